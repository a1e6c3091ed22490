import { describe } from 'vitest';
import { consoleScenario } from './console.scenario';
import { CHROMIUM, haveBuild, haveChromium } from './harness';

if (!haveChromium || !haveBuild)
  describe.skip(`console e2e on Postgres + Redis (needs ${CHROMIUM} and a build: npm run build -w web-client)`, () => {});
else consoleScenario('postgres');
