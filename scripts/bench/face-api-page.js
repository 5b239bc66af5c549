// @vladmandic/face-api's own pipeline on the fake camera, timed per frame like FaceSense's debug hook:
// TinyFaceDetector with its default options, then AgeGenderNet on each face, as `withAgeAndGender()` runs it.
import * as faceapi from './lib/face-api.esm.js';

const LOG_FRAMES = 1000;
const params = new URLSearchParams(location.search);
const backend = params.get('backend') ?? 'wasm';

const hook = {
  backend,
  frames: 0,
  detected: 0,
  classified: 0,
  firstLabelAt: -1,
  tensorsAfterFirstFrame: -1,
  tensors: -1,
  log: [],
};
window.__faceapi = hook;

faceapi.tf.setWasmPaths('./wasm/');
await faceapi.tf.setBackend(backend);
await faceapi.tf.ready();
await Promise.all([
  faceapi.nets.tinyFaceDetector.loadFromUri('./model'),
  faceapi.nets.ageGenderNet.loadFromUri('./model'),
]);
const video = document.querySelector('video');
video.srcObject = await navigator.mediaDevices.getUserMedia({
  video: { width: { ideal: 640 }, height: { ideal: 480 } },
});
await video.play();
const options = new faceapi.TinyFaceDetectorOptions();

async function analyse() {
  const t0 = performance.now();
  const detections = await faceapi.detectAllFaces(video, options);
  const t1 = performance.now();
  // What `withAgeAndGender()` does for a media element: cut each face to a canvas, then one prediction per face.
  const faces = detections.length > 0 ? await faceapi.extractFaces(video, detections) : [];
  const results = await Promise.all(faces.map((face) => faceapi.nets.ageGenderNet.predictAgeAndGender(face)));
  const t2 = performance.now();
  hook.frames++;
  hook.detected += detections.length;
  hook.classified += results.length;
  hook.tensors = faceapi.tf.memory().numTensors;
  if (hook.tensorsAfterFirstFrame < 0) hook.tensorsAfterFirstFrame = hook.tensors;
  if (hook.firstLabelAt < 0 && results.length > 0) hook.firstLabelAt = t2;
  hook.log.push({
    frame: hook.frames,
    faces: results.length,
    timings: { capture: 0, detect: t1 - t0, classify: t2 - t1 },
  });
  if (hook.log.length > LOG_FRAMES) hook.log.shift();
}

// One frame at a time, like FaceSense's frame loop: frames that arrive meanwhile are skipped.
const loop = () =>
  analyse().then(
    () => video.requestVideoFrameCallback(loop),
    (err) => console.error(err),
  );
video.requestVideoFrameCallback(loop);
