import { memoryStorage } from '../../lib/index.js';
import { testStorage } from '../../lib/testing/contract.js';

testStorage('memory', async () => memoryStorage());
