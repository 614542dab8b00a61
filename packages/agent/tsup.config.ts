import { defineConfig } from 'tsup';
import { axoTsup } from '../../tsup.config.base';

export default defineConfig(axoTsup({ entry: ['src/index.ts'] }));
