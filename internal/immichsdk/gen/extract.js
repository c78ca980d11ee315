// extract.js reads @immich/sdk's build/fetch-client.d.ts with TypeScript's
// own compiler API and prints, as JSON on stdout, every type alias of an
// object type and every enum the settings root reaches:
//
//   node extract.js TYPESCRIPT_DIR FILE ROOT[,ROOT...]
//
// The first ROOT the file declares is the settings root (AdminConfigDto
// since v3.2, SystemConfigDto before).
//
// {"root": ROOT, "types": {NAME: [{name, optional, doc, type}]},
//  "enums": {NAME: [values]}}
//
// A type is {kind: "string"|"number"|"boolean"|"null"|"unknown"},
// {kind: "ref", name}, {kind: "array", elem}, {kind: "union", types},
// {kind: "literal", value}, {kind: "record", elem} or {kind: "object", fields}.
// The Go generator (main.go) turns this into CUE; it runs only at
// `go generate` time.
"use strict";

const [tsDir, file, roots] = process.argv.slice(2);
const ts = require(require("path").join(tsDir, "node_modules", "typescript"));
const fs = require("fs");

const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);

const aliases = new Map(); // name -> TypeNode
const enums = new Map(); // name -> [values]
for (const st of src.statements) {
  if (ts.isTypeAliasDeclaration(st)) {
    aliases.set(st.name.text, st.type);
  } else if (ts.isEnumDeclaration(st)) {
    enums.set(
      st.name.text,
      st.members.map((m) => {
        if (!m.initializer) throw new Error(`enum ${st.name.text}: member without a value`);
        if (ts.isStringLiteral(m.initializer)) return m.initializer.text;
        if (ts.isNumericLiteral(m.initializer)) return Number(m.initializer.text);
        throw new Error(`enum ${st.name.text}: unsupported initializer ${m.initializer.getText()}`);
      }),
    );
  }
}

function doc(node) {
  const parts = ts.getJSDocCommentsAndTags(node).map((d) => (typeof d.comment === "string" ? d.comment : ""));
  return parts.join("\n").trim();
}

const root = roots.split(",").find((r) => aliases.has(r));
if (!root) throw new Error(`${file} declares none of ${roots}`);
const out = { root, types: {}, enums: {} };
const pending = [root];

function fieldsOf(lit) {
  return lit.members.map((m) => {
    if (!ts.isPropertySignature(m) || !m.type) throw new Error(`unsupported member ${m.getText()}`);
    const name = ts.isIdentifier(m.name) || ts.isStringLiteral(m.name) ? m.name.text : m.name.getText();
    return { name, optional: !!m.questionToken, doc: doc(m), type: typeOf(m.type) };
  });
}

function typeOf(t) {
  switch (t.kind) {
    case ts.SyntaxKind.StringKeyword:
      return { kind: "string" };
    case ts.SyntaxKind.NumberKeyword:
      return { kind: "number" };
    case ts.SyntaxKind.BooleanKeyword:
      return { kind: "boolean" };
    case ts.SyntaxKind.UnknownKeyword:
    case ts.SyntaxKind.AnyKeyword:
    case ts.SyntaxKind.ObjectKeyword:
      return { kind: "unknown" };
  }
  if (ts.isLiteralTypeNode(t)) {
    if (t.literal.kind === ts.SyntaxKind.NullKeyword) return { kind: "null" };
    if (ts.isStringLiteral(t.literal)) return { kind: "literal", value: t.literal.text };
    if (ts.isNumericLiteral(t.literal)) return { kind: "literal", value: Number(t.literal.text) };
    if (t.literal.kind === ts.SyntaxKind.TrueKeyword) return { kind: "literal", value: true };
    if (t.literal.kind === ts.SyntaxKind.FalseKeyword) return { kind: "literal", value: false };
  }
  if (ts.isArrayTypeNode(t)) return { kind: "array", elem: typeOf(t.elementType) };
  if (ts.isParenthesizedTypeNode(t)) return typeOf(t.type);
  if (ts.isUnionTypeNode(t)) return { kind: "union", types: t.types.map(typeOf) };
  if (ts.isTypeLiteralNode(t)) {
    // { [key: string]: T } is a map; anything else an inline struct.
    if (t.members.length === 1 && ts.isIndexSignatureDeclaration(t.members[0])) {
      return { kind: "record", elem: typeOf(t.members[0].type) };
    }
    return { kind: "object", fields: fieldsOf(t) };
  }
  if (ts.isTypeReferenceNode(t)) {
    const name = t.typeName.getText();
    if (name === "Record" && t.typeArguments && t.typeArguments.length === 2) {
      return { kind: "record", elem: typeOf(t.typeArguments[1]) };
    }
    if (name === "Array" && t.typeArguments && t.typeArguments.length === 1) {
      return { kind: "array", elem: typeOf(t.typeArguments[0]) };
    }
    if (enums.has(name)) {
      out.enums[name] = enums.get(name);
      return { kind: "ref", name };
    }
    if (aliases.has(name)) {
      pending.push(name);
      return { kind: "ref", name };
    }
    throw new Error(`unknown type ${name}`);
  }
  throw new Error(`unsupported type ${t.getText()} (${ts.SyntaxKind[t.kind]})`);
}

while (pending.length > 0) {
  const name = pending.pop();
  if (out.types[name]) continue;
  const t = aliases.get(name);
  if (!t) throw new Error(`no type ${name} in ${file}`);
  if (!ts.isTypeLiteralNode(t)) {
    // An alias of another type: keep it as a one-field marker.
    out.types[name] = { alias: typeOf(t) };
    continue;
  }
  out.types[name] = []; // reserve, for recursive types
  out.types[name] = fieldsOf(t);
}

// Sorted keys, so the output does not depend on the walk.
const sorted = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
process.stdout.write(JSON.stringify({ root, types: sorted(out.types), enums: sorted(out.enums) }, null, 1) + "\n");
