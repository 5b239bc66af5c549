import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The flags every benchmark script takes. */
const COMMON = {
  json: { type: 'boolean', default: false },
  'no-build': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

/**
 * The command line of a benchmark script: its own `options` and the common ones (--json, --no-build, -h). Prints
 * `help` and exits on -h.
 */
export function benchArgs<O extends Options>(help: string, options: O) {
  const { values } = parseArgs({ options: { ...options, ...COMMON } as O & typeof COMMON });
  if ((values as { help?: boolean }).help) {
    console.log(help);
    process.exit(0);
  }
  return values;
}
