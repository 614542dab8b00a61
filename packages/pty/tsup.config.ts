import { defineConfig } from 'tsup';
import { axoTsup } from '../../tsup.config.base';

// node-pty is a native addon: never bundle it.
export default defineConfig(axoTsup({ entry: ['src/index.ts'], external: ['node-pty'] }));
