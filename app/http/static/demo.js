// The demo page: choose an image, POST it to /detect as JSON, draw the boxes on a canvas.
// Plain browser JavaScript: no build step, no dependencies, nothing from another origin.
// Every URL is relative to the page's <base> (the server's root, which may be an API Gateway
// stage such as /dev/), never root-absolute.
"use strict";

const PALETTE = [
  "#ff3838", "#ff9d97", "#ff701f", "#ffb21d", "#cfd231", "#48f90a", "#92cc17", "#3ddb86",
  "#1a9334", "#00d4bb", "#2c99a8", "#00c2ff", "#344593", "#6473ff", "#0018ec", "#8438ff",
  "#520085", "#cb38ff", "#ff95c8", "#ff37c7",
];  // the same colours as the server's annotated images (app/detector/annotate.py)

const $ = (id) => document.getElementById(id);
const state = { image: null, dataUrl: null, slicingTouched: false, sequence: 0 };

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

const KEY_STORAGE = "detect-api-key";  // sessionStorage: this tab only, gone when it closes

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-Api-Key": key } : {};
}

async function readContract() {
  // The OpenAPI document says which options this server takes and their defaults, and
  // whether it wants an API key (components.securitySchemes appears only then).
  const doc = await (await fetch("openapi.json")).json();
  if (doc.components.securitySchemes) {
    $("key-field").hidden = false;
    $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  }
  const options = doc.components.schemas.DetectRequest.properties;
  if (options.confidence && options.confidence.default !== undefined) {
    $("confidence").value = options.confidence.default;
    $("confidence-value").textContent = Number(options.confidence.default).toFixed(2);
  }
  // Several models: a picker; the first name of the enum is the server's default.
  const names = options.model && options.model.enum;
  if (names && names.length > 1) {
    $("model-pick").replaceChildren(...names.map((name, i) =>
      new Option(i === 0 ? `${name} (default)` : name, i === 0 ? "" : name)));
    $("model-field").hidden = false;
  }
  const slicing = options.slicing;
  if (slicing) {
    const modes = slicing.properties && slicing.properties.mode && slicing.properties.mode.enum;
    if (modes) {
      $("slicing").replaceChildren(new Option("server default", ""), ...modes.map((m) => new Option(m, m)));
    }
    $("slicing").disabled = false;
  } else {
    $("slicing-hint").textContent = "(slicing is not available on this server)";
  }
}

async function showModel() {
  const response = await fetch("model", { headers: authHeaders() });
  if (response.ok) {
    const model = await response.json();
    $("model").textContent = `model ${model.name} (${model.format}, ${model.input.width}×${model.input.height})`;
  }
}

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(new Error("The file could not be read."));
    reader.onload = () => {
      const image = new Image();
      image.onload = () => resolve({ image, dataUrl: reader.result });
      image.onerror = () => reject(new Error("The browser cannot show this file as an image."));
      image.src = reader.result;
    };
    reader.readAsDataURL(file);
  });
}

function requestBody() {
  const body = { image: state.dataUrl, confidence: Number($("confidence").value) };
  if ($("model-pick").value) body.model = $("model-pick").value;  // absent: the default
  // Sent only once the user picks a mode, so servers without slicing never see the field.
  if (state.slicingTouched && $("slicing").value) {
    body.slicing = { mode: $("slicing").value };
  }
  return body;
}

async function detect() {
  if (!state.dataUrl) return;
  const sequence = ++state.sequence;
  setStatus("Detecting…");
  $("detect").disabled = true;
  try {
    const response = await fetch("detect", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(requestBody()),
    });
    const answer = await response.json();
    if (sequence !== state.sequence) return;  // a newer request is on its way
    $("json").textContent = JSON.stringify(answer, null, 2);
    if (!response.ok) {
      setStatus(`Error ${response.status}: ${answer.error ? answer.error.message : "unknown"}`, true);
      if (response.status === 401) {
        $("key-field").hidden = false;
        $("api-key").focus();
      }
      return;
    }
    const drawn = drawDetections(answer.detections);
    const total = answer.timings_ms ? ` in ${Math.round(answer.timings_ms.total)} ms` : "";
    setStatus(`${answer.count} detection${answer.count === 1 ? "" : "s"}${total}`);
    $("status").dataset.count = String(answer.count);
    $("canvas").dataset.count = String(drawn);
  } catch (error) {
    if (sequence === state.sequence) setStatus(`Request failed: ${error.message}`, true);
  } finally {
    if (sequence === state.sequence) $("detect").disabled = false;
  }
}

function drawDetections(detections) {
  const canvas = $("canvas");
  const image = state.image;
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const lineWidth = Math.max(2, Math.round(Math.min(canvas.width, canvas.height) / 300));
  ctx.lineWidth = lineWidth;
  ctx.font = `${Math.max(12, 4 * lineWidth + 4)}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  // Lowest confidence first, so the best boxes end up on top.
  const ordered = [...detections].sort((a, b) => a.confidence - b.confidence);
  for (const d of ordered) {
    const { x1, y1, x2, y2 } = d.box;
    const colour = PALETTE[d.class_id % PALETTE.length];
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = `${d.label} ${d.confidence.toFixed(2)}`;
    const height = Math.max(12, 4 * lineWidth + 4) + 2;
    const top = y1 - height < 0 ? y1 + height : y1;
    ctx.fillStyle = colour;
    ctx.fillRect(x1, top - height, ctx.measureText(text).width + 4, height);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x1 + 2, top - 1);
  }
  return ordered.length;
}

$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (!file) return;
  try {
    Object.assign(state, await loadImage(file));
  } catch (error) {
    setStatus(error.message, true);
    return;
  }
  $("detect").disabled = false;
  drawDetections([]);
  detect();
});
$("confidence").addEventListener("input", () => {
  $("confidence-value").textContent = Number($("confidence").value).toFixed(2);
});
$("confidence").addEventListener("change", detect);
$("slicing").addEventListener("change", () => {
  state.slicingTouched = true;
  detect();
});
$("api-key").addEventListener("change", () => {
  sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  showModel().catch(() => {});
  detect();
});
$("model-pick").addEventListener("change", () => detect());
$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  detect();
});

// The key (if the server wants one) is filled in before /model is asked.
readContract().catch(() => {}).finally(() => showModel().catch(() => {}));
