// Fails when a declaration exported by the package's entry mentions `any`.
// Usage: node check-no-any.cjs <typescript module dir> <entry .d.ts>
const path = require("path");
const ts = require(process.argv[2]);
const entry = process.argv[3];

const program = ts.createProgram([entry], { strict: true, noEmit: true });
const checker = program.getTypeChecker();
const entryModule = checker.getSymbolAtLocation(program.getSourceFile(entry));
const publicSymbols = checker.getExportsOfModule(entryModule);
const offenders = [];
for (const exported of publicSymbols) {
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  for (const declaration of symbol.declarations ?? []) {
    const visit = (node) => {
      if (node.kind === ts.SyntaxKind.AnyKeyword) {
        const file = node.getSourceFile();
        const { line } = file.getLineAndCharacterOfPosition(node.getStart());
        offenders.push(`${path.basename(file.fileName)}:${line + 1}: ${exported.name}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(declaration);
  }
}
if (publicSymbols.length < 10) {
  console.error(`check-no-any: only ${publicSymbols.length} exports found in ${entry}`);
  process.exit(1);
}
if (offenders.length) {
  console.error("check-no-any: `any` in the public API:\n  " + offenders.join("\n  "));
  process.exit(1);
}
console.log(`check-no-any: ${publicSymbols.length} exports, no \`any\``);
