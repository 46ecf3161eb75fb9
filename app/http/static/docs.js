// The API docs page: renders /openapi.json and lets you try the operations from the browser.
// A small self-contained renderer instead of Swagger UI: no CDN, nothing to vendor.
// Requests go relative to the page's <base> (the server's root, maybe an API Gateway stage).
"use strict";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};

function prose(text) {
  // Descriptions are CommonMark; only `code` spans are used: show them as code, not backticks.
  return (text || "").split("`").map((part, i) => (i % 2 ? el("code", {}, part) : part));
}

function schemaName(schema) {
  return schema && schema.$ref ? schema.$ref.split("/").pop() : null;
}

function schemaSummary(schema) {
  if (!schema) return "";
  const name = schemaName(schema);
  // "docs#…", not "#…": a bare fragment would resolve against <base>, i.e. the demo page.
  if (name) return el("a", { href: `docs#schema-${name}` }, name);
  const bits = [schema.type || (schema.anyOf ? "anyOf" : "any")];
  if (schema.contentMediaType) bits.push(schema.contentMediaType);
  if (schema.enum) bits.push(`one of ${schema.enum.join(", ")}`);
  if (schema.minimum !== undefined || schema.maximum !== undefined) {
    bits.push(`[${schema.minimum ?? ""}, ${schema.maximum ?? ""}]`);
  }
  if (schema.default !== undefined) bits.push(`default ${JSON.stringify(schema.default)}`);
  return bits.join(", ");
}

function parametersTable(parameters) {
  if (!parameters || !parameters.length) return null;
  const rows = parameters.map((p) =>
    el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
      el("td", {}, schemaSummary(p.schema)), el("td", {}, ...prose(p.description || (p.schema && p.schema.description)))));
  return el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"),
    el("th", {}, "schema"), el("th", {}, "meaning")), ...rows);
}

function requestBodyBlock(body) {
  if (!body) return null;
  const items = Object.entries(body.content).map(([type, media]) =>
    el("details", {}, el("summary", {}, "request body ", el("code", {}, type), " — ", schemaSummary(media.schema)),
      el("pre", {}, JSON.stringify(media.example ? { schema: media.schema, example: media.example } : media.schema, null, 2))));
  return el("div", {}, ...items);
}

function responsesTable(responses) {
  const rows = Object.entries(responses).map(([status, r]) => {
    const media = Object.entries(r.content || {})[0];
    return el("tr", {}, el("td", {}, status), el("td", {}, ...prose(r.description)),
      el("td", {}, media ? el("code", {}, media[0]) : ""), el("td", {}, media ? schemaSummary(media[1].schema) : ""));
  });
  return el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "meaning"),
    el("th", {}, "type"), el("th", {}, "schema")), ...rows);
}

function shorten(value) {
  // Long strings (an annotated_image) would swamp the page.
  return JSON.stringify(value, (k, v) => (typeof v === "string" && v.length > 200 ? `${v.slice(0, 60)}… (${v.length} chars)` : v), 2);
}

function tryItForm(method, path, operation) {
  const multipart = operation.requestBody && operation.requestBody.content["multipart/form-data"];
  if (operation.requestBody && !multipart) return null;
  const fields = [];
  for (const p of operation.parameters || []) {
    const attrs = { name: p.name, "data-in": p.in, size: "8",
      placeholder: p.schema && p.schema.default !== undefined ? String(p.schema.default) : "" };
    // An enum (the model names) becomes the input's suggestions: pick one, or type any value.
    const choices = p.schema && p.schema.enum ? el("datalist", { id: `choices-${operation.operationId}-${p.name}` },
      ...p.schema.enum.map((value) => el("option", { value: String(value) }))) : null;
    if (choices) attrs.list = choices.id;
    fields.push(el("label", {}, p.name, el("input", attrs), choices));
  }
  const properties = multipart ? Object.entries(multipart.schema.properties) : [];
  for (const [name, schema] of properties) {
    const binary = schema.contentMediaType || schema.format === "binary";
    fields.push(el("label", {}, name, el("input", binary ? { name, type: "file", "data-in": "form" }
      : { name, "data-in": "form", size: "8", placeholder: schema.default !== undefined ? String(schema.default) : "" })));
  }
  const output = el("pre", { class: "try-output" });
  const form = el("form", { class: "try" }, ...fields, el("button", { type: "submit" }, "Send"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    const data = new FormData();
    let route = path.replace(/^\//, "");  // relative: under the page's base, not the host root
    for (const input of form.querySelectorAll("input")) {
      if (input.type === "file") { if (input.files[0]) data.append(input.name, input.files[0]); }
      else if (input.dataset.in === "path") route = route.replace(`{${input.name}}`, encodeURIComponent(input.value));
      else if (input.value !== "") (input.dataset.in === "query" ? query : data).append(input.name, input.value);
    }
    const url = route + (query.toString() ? `?${query}` : "");
    output.textContent = `${method.toUpperCase()} ${url} …`;
    const headers = operation.security ? keyHeaders() : {};
    const response = await fetch(url, multipart ? { method: "POST", body: data, headers } : { method: method.toUpperCase(), headers });
    const type = response.headers.get("content-type") || "";
    const text = type.includes("json") ? shorten(await response.json()) : `(${type}, ${(await response.text()).length} chars)`;
    output.textContent = `${response.status}\n${text}`;
    output.dataset.status = String(response.status);
  });
  return el("details", {}, el("summary", {}, "Try it"), form, output);
}

function operationSection(path, method, operation) {
  return el("section", { class: "operation", "data-path": path, "data-method": method },
    el("h2", {}, el("span", { class: `method ${method}` }, method.toUpperCase()), path),
    el("p", {}, el("strong", {}, operation.summary || "")),
    operation.description ? el("p", { class: "hint" }, ...prose(operation.description)) : null,
    parametersTable(operation.parameters), requestBodyBlock(operation.requestBody),
    responsesTable(operation.responses), tryItForm(method, path, operation));
}

const KEY_STORAGE = "detect-api-key";  // shared with the demo page; this tab only

function keyHeaders() {
  const key = (sessionStorage.getItem(KEY_STORAGE) || "").trim();
  return key ? { "X-Api-Key": key } : {};
}

function keyField() {
  // Shown only when the server wants API keys (the document then has securitySchemes).
  const input = el("input", { type: "password", id: "api-key", autocomplete: "off", size: "18" });
  input.value = sessionStorage.getItem(KEY_STORAGE) || "";
  input.addEventListener("change", () => sessionStorage.setItem(KEY_STORAGE, input.value.trim()));
  return el("p", { class: "try" }, el("label", {}, "API key for “Try it” (X-Api-Key) ", input));
}

async function main() {
  const doc = await (await fetch("openapi.json")).json();
  if (doc.components.securitySchemes) {
    document.getElementById("description").after(keyField());
  }
  document.getElementById("title").textContent = doc.info.title;
  document.getElementById("version").textContent = `version ${doc.info.version}, OpenAPI ${doc.openapi}`;
  document.getElementById("description").textContent = doc.info.description || "";
  const sections = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) sections.push(operationSection(path, method, operation));
  }
  document.getElementById("operations").replaceChildren(...sections);
  const schemas = Object.entries(doc.components.schemas).map(([name, schema]) =>
    el("div", { id: `schema-${name}` }, el("h3", {}, name), el("pre", {}, JSON.stringify(schema, null, 2))));
  document.getElementById("schemas").replaceChildren(...schemas);
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  document.getElementById("operations").textContent = `Could not load /openapi.json: ${error.message}`;
});
