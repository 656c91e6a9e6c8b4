// Foxglove's official JSON Schemas (the `@foxglove/schemas` package), and checks with ajv of what
// vizcast sends on /foxglove and writes with `vizcast export --foxglove` against them: each message
// against the official schema of its channel's schema name (`foxglove.SceneUpdate`…), or against
// the channel's own schema for vizcast's `vizcast.Scalars/<stream>`; and each channel's schema
// against Foxglove's. Also reads an MCAP file (zstd chunks, CRCs checked) for the export's checks.

import assert from "node:assert/strict";

import { McapStreamReader } from "@mcap/core";
import Ajv from "ajv";
import { decompress } from "fzstd";
// CommonJS without an exports map: imported by its file name.
import official from "@foxglove/schemas/jsonschema.js";

const FOXGLOVE_PREFIX = "foxglove.";
const SCALARS_PREFIX = "vizcast.Scalars/";

// The official schemas declare no `$schema`: ajv's default draft (07) is the one they are written in.
const ajv = new Ajv({ allErrors: true, strict: true });

/** The official JSON Schema of a Foxglove schema name (`foxglove.PointCloud`), or undefined. */
export function officialSchema(name) {
  if (!name.startsWith(FOXGLOVE_PREFIX)) return undefined;
  const schema = official[name.slice(FOXGLOVE_PREFIX.length)];
  return schema?.title === name ? schema : undefined;
}

/**
 * A copy of `schema` in which every object with `properties` refuses other fields: a field that
 * the schema does not declare would not be typed by the apps, so vizcast writes none.
 */
function closed(schema) {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== "object") return schema;
  const copy = Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, closed(value)]));
  if (copy.properties && copy.type === "object") copy.additionalProperties = false;
  return copy;
}

/** Compiled validators by schema name and text. */
const validators = new Map();

/**
 * The validators of a channel's messages: `official` (the official schema of a `foxglove.*` name,
 * else the channel's own schema) and `strict` (the same, refusing fields it does not declare).
 */
function validatorsOf(schemaName, schemaText) {
  const key = `${schemaName}\n${schemaText}`;
  let found = validators.get(key);
  if (!found) {
    const schema = schemaName.startsWith(FOXGLOVE_PREFIX) ? officialSchema(schemaName) : JSON.parse(schemaText);
    assert.ok(schema, `${schemaName} is one of Foxglove's schemas`);
    found = { official: ajv.compile(schema), strict: ajv.compile(closed(schema)) };
    validators.set(key, found);
  }
  return found;
}

/** Asserts that `message` (parsed JSON) validates as a message of its channel; `where` names it. */
export function assertValidMessage(schemaName, schemaText, message, where) {
  const { official: valid, strict } = validatorsOf(schemaName, schemaText);
  const shown = () => JSON.stringify(message).slice(0, 600);
  assert.ok(valid(message), `${where}: not a valid ${schemaName}: ${ajv.errorsText(valid.errors)}; ${shown()}`);
  assert.ok(strict(message), `${where}: a field ${schemaName} does not declare: ${ajv.errorsText(strict.errors)}; ${shown()}`);
}

/**
 * Asserts a channel's schema: for a `foxglove.*` name, Foxglove's official schema exactly (and so
 * its `required` lists); for `vizcast.Scalars/<stream>`, an object schema titled with its name
 * that ajv compiles.
 */
export function assertChannelSchema(schemaName, schemaText, where) {
  const schema = JSON.parse(schemaText);
  if (schemaName.startsWith(FOXGLOVE_PREFIX)) {
    const expected = officialSchema(schemaName);
    assert.ok(expected, `${where}: ${schemaName} is one of Foxglove's schemas`);
    assert.ok(Array.isArray(schema.required) && schema.required.length > 0, `${where}: ${schemaName} has its required fields: ${JSON.stringify(schema.required)}`);
    assert.deepEqual(schema, expected, `${where}: the schema of ${schemaName} is Foxglove's`);
  } else {
    assert.ok(schemaName.startsWith(SCALARS_PREFIX), `${where}: unexpected schema ${schemaName}`);
    assert.equal(schema.title, schemaName, `${where}: titled with its name`);
    assert.equal(schema.type, "object", `${where}: an object schema`);
    validatorsOf(schemaName, schemaText);
  }
}

/**
 * Reads a whole MCAP file (uncompressed or zstd chunks, every chunk's CRC checked): its schemas
 * and channels by id, and its messages in file order with their data parsed as UTF-8 JSON.
 */
export function readMcap(bytes) {
  const reader = new McapStreamReader({
    decompressHandlers: { zstd: (data, size) => decompress(data, new Uint8Array(Number(size))) },
    validateCrcs: true,
  });
  reader.append(bytes);
  const schemas = new Map();
  const channels = new Map();
  const messages = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (let record; (record = reader.nextRecord()); ) {
    if (record.type === "Schema") {
      schemas.set(record.id, { name: record.name, encoding: record.encoding, text: decoder.decode(record.data) });
    } else if (record.type === "Channel") {
      channels.set(record.id, record);
    } else if (record.type === "Message") {
      messages.push({ channelId: record.channelId, logTime: record.logTime, payload: JSON.parse(decoder.decode(record.data)) });
    }
  }
  assert.ok(reader.done(), "a complete MCAP file, footer included");
  return { schemas, channels, messages };
}
