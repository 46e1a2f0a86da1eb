// Prints, as JSON, the schema and row count of every Arrow IPC file in a MEFT checkpoint's store/
// directory: {"files": [{"file", "rows", "batches", "columns": [{"name", "type", "listSize"?,
// "childType"?, "nullable"}], "metadata"}]}. Usage: node read-store.mjs CHECKPOINT_DIR
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC, Type } from 'apache-arrow';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node read-store.mjs CHECKPOINT_DIR');
  process.exit(2);
}
const storeDir = join(dir, 'store');
const files = readdirSync(storeDir).filter((name) => name.endsWith('.arrow')).sort();
const out = [];
for (const name of files) {
  const table = tableFromIPC(readFileSync(join(storeDir, name)));
  const columns = table.schema.fields.map((field) => {
    const column = { name: field.name, type: Type[field.type.typeId], nullable: field.nullable };
    if (field.type.typeId === Type.FixedSizeList) {
      column.listSize = field.type.listSize;
      column.childType = Type[field.type.children[0].type.typeId];
      column.childBits = field.type.children[0].type.precision === 1 ? 32 : null;
    } else if (field.type.typeId === Type.Int) {
      column.bitWidth = field.type.bitWidth;
      column.signed = field.type.isSigned;
    }
    return column;
  });
  out.push({
    file: `store/${name}`,
    rows: table.numRows,
    batches: table.batches.length,
    columns,
    metadata: Object.fromEntries(table.schema.metadata),
  });
}
console.log(JSON.stringify({ files: out }));
