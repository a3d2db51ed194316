import { berthUpstream } from './fixtures.js';
import { mirrorScenarios } from './scenarios.js';

// the same scenarios run against CNCF Distribution in scripts/ci-mirror.sh (test/mirror/upstreams.e2e.ts)
mirrorScenarios('berth (token auth, in process)', () => berthUpstream('token'));
