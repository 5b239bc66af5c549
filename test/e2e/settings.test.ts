import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { verdict, type GenderLabel } from '../../src/core/labels';
import type { ModelMetadata } from '../../src/core/metadata';
import { labelledFrom, labelPolicy, parseSettings, type Caution } from '../../src/core/settings';
import {
  dropPhoto,
  foreignRequests,
  launchChromium,
  newSession,
  SCENES,
  screenshotPath,
  TWO_FACES,
  waitForFaces,
} from './harness';

const baseUrl = inject('baseUrl');

const dialog = (page: Page) => page.getByRole('dialog', { name: 'Settings' });
const cautionSelect = (page: Page) => dialog(page).getByRole('combobox', { name: 'How cautious labels are' });
const percentBox = (page: Page) => dialog(page).getByRole('checkbox', { name: /Show the confidence percentage/ });
const cameraSelect = (page: Page) => dialog(page).getByRole('combobox', { name: 'Camera' });

/** The text of the element focused inside the app (its controls are in shadow roots). */
function focusedText(page: Page): Promise<string> {
  return page.evaluate(() => {
    let active: Element | null = document.activeElement;
    while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
    return active?.textContent?.trim() ?? '';
  });
}

/** Tabs from the top of the page to the Settings button and opens the sheet with Enter. */
async function openByKeyboard(page: Page): Promise<void> {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  for (let i = 0; i < 5 && (await focusedText(page)) !== 'Settings'; i++) await page.keyboard.press('Tab');
  expect(await focusedText(page)).toBe('Settings');
  await page.keyboard.press('Enter');
  await dialog(page).waitFor({ state: 'visible' });
}

/** Tabs inside the open sheet until `isTarget` says the right control has focus. */
async function tabTo(page: Page, isTarget: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 6 && !(await isTarget()); i++) await page.keyboard.press('Tab');
  expect(await isTarget()).toBe(true);
}

/** Whether `locator`'s control has focus inside its shadow root. */
const isFocused = (locator: Locator) => () =>
  locator.evaluate(
    (el) => el.getRootNode() instanceof ShadowRoot && (el.getRootNode() as ShadowRoot).activeElement === el,
  );

/**
 * Once a few frames have been analysed after a change and every face has a label again (a new caution level makes
 * faces settle anew), what the overlay draws for each face: its text, label and smoothed probability of "male".
 */
async function settledFaces(page: Page): Promise<{ text: string; label?: GenderLabel; probabilityMale?: number }[]> {
  const frames = await page.evaluate(() => window.__facesense!.frames);
  await page.waitForFunction(
    (after) =>
      window.__facesense!.frames >= after &&
      [...(document.querySelector('facesense-app')?.shadowRoot?.querySelector('face-overlay')?.faces ?? [])].every(
        (f) => f.verdict,
      ),
    frames + 5,
    { timeout: 60_000, polling: 100 },
  );
  return overlayFaces(page);
}

/** What the overlay draws for each face: its text, label and smoothed probability of "male". */
function overlayFaces(page: Page): Promise<{ text: string; label?: GenderLabel; probabilityMale?: number }[]> {
  return page.evaluate(() =>
    [...(document.querySelector('facesense-app')?.shadowRoot?.querySelector('face-overlay')?.faces ?? [])].map((f) => ({
      text: f.text,
      label: f.verdict?.label,
      probabilityMale: f.verdict?.probabilityMale,
    })),
  );
}

/** Waits until the live region's sentence matches `pattern`. */
function waitForAnnouncement(page: Page, pattern: RegExp): Promise<unknown> {
  return page.waitForFunction(
    (source) =>
      new RegExp(source).test(
        document.querySelector('facesense-app')?.shadowRoot?.querySelector('p[role=status]')?.textContent ?? '',
      ),
    pattern.source,
    { timeout: 60_000, polling: 200 },
  );
}

describe('the settings sheet', () => {
  const browsers: Browser[] = [];

  afterAll(async () => {
    await Promise.all(browsers.map((b) => b.close()));
  });

  it('works by keyboard, applies each choice live, and persists across a reload', async () => {
    const browser = await launchChromium({ video: inject('oneFaceVideo') });
    browsers.push(browser);
    const session = await newSession(browser);
    const { page } = session;
    await page.goto(`${baseUrl}/?backend=wasm`);
    const [first] = await waitForFaces(page, 1);
    expect(first).toMatch(/^(female|male) \d{1,2}%$/);
    const metadata: ModelMetadata = await page.evaluate(() =>
      fetch('/models/gender/metadata.json').then((r) => r.json()),
    );
    const expectedLabels = async (caution: Caution) => {
      const faces = await settledFaces(page);
      expect(faces).toHaveLength(1);
      const policy = labelPolicy(caution, metadata.policy);
      return faces.map((f) => [f.label, verdict(f.probabilityMale!, policy).label]);
    };

    await openByKeyboard(page);
    // A modal dialog takes focus; the fake camera is the only one, so there is no camera to choose.
    await expect(cameraSelect(page).count()).resolves.toBe(0);
    await expect(isFocused(cautionSelect(page))()).resolves.toBe(true);
    await expect(cautionSelect(page).inputValue()).resolves.toBe('normal');
    await expect(percentBox(page).isChecked()).resolves.toBe(true);

    // Percentage off: the overlay and the live region say "male", not "male 98%".
    await tabTo(page, isFocused(percentBox(page)));
    await page.keyboard.press('Space');
    await expect(percentBox(page).isChecked()).resolves.toBe(false);
    await waitForAnnouncement(page, /^1 face: (female|male|uncertain)$/);
    for (const face of await overlayFaces(page)) expect(face.text).toMatch(/^(female|male|uncertain)$/);

    // Caution off, then cautious: each says what it does, and the face is labelled by its band.
    await page.keyboard.press('Shift+Tab');
    await expect(isFocused(cautionSelect(page))()).resolves.toBe(true);
    await page.keyboard.press('ArrowUp');
    await expect(cautionSelect(page).inputValue()).resolves.toBe('off');
    await expect(dialog(page).getByText('never "uncertain"').count()).resolves.toBe(1);
    await waitForAnnouncement(page, /^1 face: (female|male)$/);
    for (const [shown, expected] of await expectedLabels('off')) expect(shown).toBe(expected);

    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await expect(cautionSelect(page).inputValue()).resolves.toBe('cautious');
    const describedBy = await cautionSelect(page).getAttribute('aria-describedby');
    // 64% for the shipped model, whose band is 0.07.
    const from = labelledFrom(labelPolicy('cautious', metadata.policy));
    await expect(dialog(page).locator(`#${describedBy}`).textContent()).resolves.toContain(
      `at least ${from} likely (twice the model's margin)`,
    );
    await waitForAnnouncement(page, /^1 face: (female|male|uncertain)$/);
    for (const [shown, expected] of await expectedLabels('cautious')) expect(shown).toBe(expected);
    await page.screenshot({ path: screenshotPath('settings-sheet') });

    // Escape closes the sheet and gives focus back to the button that opened it.
    await page.keyboard.press('Escape');
    await dialog(page).waitFor({ state: 'hidden' });
    expect(await focusedText(page)).toBe('Settings');
    const stored = await page.evaluate(() => localStorage.getItem('facesense.settings'));
    expect(parseSettings(stored)).toEqual({ caution: 'cautious', showPercent: false });

    await page.reload();
    await waitForAnnouncement(page, /^1 face: (female|male|uncertain)$/);
    for (const face of await overlayFaces(page)) expect(face.text).toMatch(/^(female|male|uncertain|…)$/);
    await openByKeyboard(page);
    await expect(cautionSelect(page).inputValue()).resolves.toBe('cautious');
    await expect(percentBox(page).isChecked()).resolves.toBe(false);
    await dialog(page).getByRole('button', { name: 'Done' }).press('Enter');
    await dialog(page).waitFor({ state: 'hidden' });
    expect(await focusedText(page)).toBe('Settings');

    // A photo is labelled again at once when a setting changes.
    await dropPhoto(page, join(SCENES, TWO_FACES));
    await waitForAnnouncement(page, /^2 faces: (female|male|uncertain), (female|male|uncertain)$/);
    await openByKeyboard(page);
    await tabTo(page, isFocused(percentBox(page)));
    await page.keyboard.press('Space');
    await waitForAnnouncement(page, /^2 faces: .*\d%/);
    await page.keyboard.press('Escape');

    expect(foreignRequests(session.requests, baseUrl)).toEqual([]);
    expect(session.errors).toEqual([]);
  });

  it('offers the camera when there are two, switches to the one chosen, and keeps it across a reload', async () => {
    // Chromium's fake capture gives two cameras (test patterns, no face); the last of a repeated switch wins.
    const browser = await launchChromium({ args: ['--use-fake-device-for-media-stream=device-count=2'] });
    browsers.push(browser);
    const session = await newSession(browser);
    const { page } = session;
    const activeCamera = () =>
      page.evaluate(() => {
        const video = document.querySelector('facesense-app')?.shadowRoot?.querySelector('video');
        return (video?.srcObject as MediaStream | null)?.getVideoTracks()[0]?.getSettings().deviceId;
      });
    await page.goto(`${baseUrl}/?backend=wasm`);
    await page.getByRole('button', { name: 'Switch camera' }).waitFor({ timeout: 60_000 });
    const firstCamera = await activeCamera();

    await openByKeyboard(page);
    await expect(isFocused(cameraSelect(page))()).resolves.toBe(true);
    await expect(cameraSelect(page).locator('option').allTextContents()).resolves.toEqual([
      'fake_device_0',
      'fake_device_1',
    ]);
    await expect(cameraSelect(page).inputValue()).resolves.toBe(firstCamera);
    await page.keyboard.press('ArrowDown');
    const secondCamera = await cameraSelect(page).inputValue();
    expect(secondCamera).not.toBe(firstCamera);
    await page.waitForFunction(
      (id) =>
        (document.querySelector('facesense-app')?.shadowRoot?.querySelector('video')?.srcObject as MediaStream | null)
          ?.getVideoTracks()[0]
          ?.getSettings().deviceId === id,
      secondCamera,
      { timeout: 30_000, polling: 200 },
    );
    await page.keyboard.press('Escape');

    await page.reload();
    await page.getByRole('button', { name: 'Switch camera' }).waitFor({ timeout: 60_000 });
    await expect(activeCamera()).resolves.toBe(secondCamera);
    await openByKeyboard(page);
    await expect(cameraSelect(page).inputValue()).resolves.toBe(secondCamera);
    await page.keyboard.press('Escape');

    // "Switch camera" is the same choice: it moves to the next camera and remembers it.
    await page.getByRole('button', { name: 'Switch camera' }).click();
    await expect.poll(activeCamera, { timeout: 30_000 }).toBe(firstCamera);
    const stored = await page.evaluate(() => localStorage.getItem('facesense.settings'));
    expect(parseSettings(stored).cameraId).toBe(firstCamera);
    expect(session.errors).toEqual([]);
  });
});
