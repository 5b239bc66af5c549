import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auxClasses, auxRows, groupsOf } from '../../training/lib/data/labels';

const dirs: string[] = [];
/** A data folder holding only a labels.csv with these lines. */
function folder(lines: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'facesense-labels-'));
  dirs.push(root);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'labels.csv'), lines.join('\n') + '\n');
  return root;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('auxClasses', () => {
  const faces = folder(['file,race,age', 'Male/a.jpg,White,25', 'Female/b.jpg,Black,', 'Male/c.jpg,,70']);
  const plain = folder(['file,label', 'Male/x.jpg,Male']);
  const folders = [
    { root: faces, names: ['Male/a.jpg', 'Female/b.jpg', 'Male/c.jpg', 'Male/unlisted.jpg'] },
    { root: plain, names: ['Male/x.jpg'] },
  ];

  it('gives each image its class per column, image by image over the folders, −1 where unknown', () => {
    const { heads, classes } = auxClasses(folders, ['race', 'age']);
    // Classes sorted; ages banded as --balance bands them.
    expect(heads).toEqual([
      { column: 'race', groups: ['Black', 'White'] },
      { column: 'age', groups: ['20–39', '60+'] },
    ]);
    expect(Array.from(classes)).toEqual([1, 0, 0, -1, -1, 1, -1, -1, -1, -1]);
    expect(Array.from(auxRows(classes, 2, [2, 0]))).toEqual([-1, 1, 1, 0]);
  });

  it('keeps a resumed run’s class order, and fails on a column no folder has', () => {
    const { classes } = auxClasses(folders, ['race'], [{ column: 'race', groups: ['White', 'Black', 'Indian'] }]);
    expect(Array.from(classes)).toEqual([0, 1, -1, -1, -1]);
    expect(() => auxClasses(folders, ['skin'])).toThrow(/no folder's labels.csv has a "skin" column/);
  });
});

describe('groupsOf', () => {
  const faces = folder(['file,race,age', 'Male/a.jpg,White,25', 'Female/b.jpg,Black,', 'Male/c.jpg,,70']);
  const names = ['Male/a.jpg', 'Female/b.jpg', 'Male/c.jpg', 'Male/unlisted.jpg'];

  it('gives each image its group, ages banded, null where unknown', () => {
    expect(groupsOf(faces, 'race', names)).toEqual(['White', 'Black', null, null]);
    expect(groupsOf(faces, 'age', names)).toEqual(['20–39', null, '60+', null]);
  });

  it('crosses columns joined by +, leaving out the parts an image lacks', () => {
    expect(groupsOf(faces, 'race+age', names)).toEqual(['White 20–39', 'Black', '60+', null]);
    expect(groupsOf(faces, 'race+skin', names)).toBeNull();
  });
});
