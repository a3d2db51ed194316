import { memoryStorage } from '../../lib/index.js';
import { testStorage } from './contract.js';

testStorage('memory', async () => memoryStorage());
