import { defineConfig } from 'tsup';
import { axoTsup } from '../../tsup.config.base';

// Runs in Node ≥ 22 and in browsers: fetch, streams and WebSocket only, no Node built-ins.
export default defineConfig(axoTsup({ entry: ['src/index.ts'], platform: 'neutral', target: 'es2022' }));
