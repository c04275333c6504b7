/**
 * Opens the hub's store in DIR when told "go" on stdin, then prints the schema version: several
 * of these started together race to migrate one fresh database, as the hub and a CLI command do.
 */
import { createInterface } from 'node:readline';
import { Store } from '../../hub/store.js';

const dir = process.argv[2]!;
console.log('ready');
createInterface({ input: process.stdin }).once('line', () => {
  try {
    const store = new Store({ dataDir: dir });
    const { version } = store.read((db) => db.prepare('SELECT version FROM schema_version').get() as { version: number });
    store.close();
    console.log(`version ${version}`);
  } catch (error) {
    console.log(`error ${(error as Error).message}`);
  }
  process.exit(0);
});
