// ll4al label: the labeling page. Plain JavaScript, no dependencies.
//
// Every answer is POSTed at once (one label, with the seconds this tab spent on the image while
// it was visible), so closing the tab loses nothing; a reload resumes at the first image of the
// batch still without a label. Skip leaves an image unanswered (it comes round again after the
// last one); undo deletes the last label given here and goes back to its image.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const task = document.body.dataset.task;
  const mode = new URLSearchParams(location.search).get("mode") === "mine" ? "mine" : "batch";
  const COLORS = ["#f97316", "#22c55e", "#3b82f6", "#e11d48", "#a855f7", "#eab308", "#14b8a6",
    "#ec4899", "#84cc16", "#0ea5e9"];
  // The answer keys in keyboard order. A class named as one of them gets that key, so an expert
  // who presses the grade they mean (Kellgren-Lawrence 0-4, BI-RADS 0-6) gets that grade.
  const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

  let state = null; // GET api/state
  let items = []; // the batch's images, in rank order
  let current = -1; // index of the image on screen; -1: none left
  let history = []; // ids of this annotator's labels from the page, for undo
  let busy = false; // a request in flight: further answers wait
  const spent = new Map(); // sample -> seconds this tab has shown it (while visible)
  let shownAt = null; // performance.now() when the image on screen became visible
  // detection
  let boxes = []; // [{box: [x1, y1, x2, y2], label, score}] in pixels of the stored image
  let selected = -1;
  let drawClass = 0;
  let drawing = null;

  // --- talking to the server -------------------------------------------------------------

  async function api(path, payload) {
    const options = payload === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(payload),
    };
    const response = await fetch(path, options);
    let data = {};
    try {
      data = await response.json();
    } catch (_) {
      // not JSON: keep the status line
    }
    if (!response.ok) {
      const error = new Error(data.error || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function say(text, error = false) {
    const message = $("message");
    message.textContent = text;
    message.classList.toggle("error", error);
  }

  let windowChoice = -1; // index in state.windows chosen with W; -1: the project's mapping

  function imageUrl(sample) {
    const chosen = windowChoice >= 0 ? `?window=${state.windows[windowChoice]}` : "";
    return "image/" + sample.split("/").map(encodeURIComponent).join("/") + chosen;
  }

  // --- which image next ------------------------------------------------------------------

  // an image someone could not label ("cannot be labeled") is closed for the batch
  const pending = (item) =>
    mode === "mine" ? !(item.mine || item.skipped_mine) : !(item.labeled || item.skipped);

  function nextPending(from) {
    // The first unanswered image after `from`, wrapping round (skipped ones come again).
    const n = items.length;
    for (let step = 1; step <= n; step++) {
      const i = (((from + step) % n) + n) % n;
      if (pending(items[i])) return i;
    }
    return -1;
  }

  function applyProgress(data) {
    const labeled = new Set(data.labeled);
    const mine = new Set(data.mine);
    const skipped = new Set(data.skipped);
    const skippedMine = new Set(data.skipped_mine);
    for (const item of items) {
      item.labeled = labeled.has(item.sample);
      item.mine = mine.has(item.sample);
      item.skipped = skipped.has(item.sample);
      item.skipped_mine = skippedMine.has(item.sample);
    }
    if (data.history) history = data.history.slice();
    const done = items.filter((item) => !pending(item)).length;
    $("progress").textContent = `${done} / ${items.length}`;
    $("undo").disabled = history.length === 0;
    $("done-undo").disabled = history.length === 0;
  }

  // --- the clock: seconds spent on each image ---------------------------------------------

  function startClock() {
    shownAt = document.hidden ? null : performance.now();
  }

  function stopClock() {
    if (current >= 0 && shownAt !== null) {
      const sample = items[current].sample;
      spent.set(sample, (spent.get(sample) || 0) + (performance.now() - shownAt) / 1000);
    }
    shownAt = null;
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopClock();
    else if (current >= 0 && $("image").complete) startClock();
  });

  // --- showing an image ------------------------------------------------------------------

  function show(i) {
    stopClock();
    current = i;
    if (i < 0) {
      showDone();
      return;
    }
    const item = items[i];
    $("done").hidden = true;
    $("work").hidden = false;
    document.body.dataset.sample = item.sample;
    $("sample").textContent = `#${item.rank} · ${item.sample}`;
    $("sample").title = item.sample;
    showGuess(item);
    if (task === "detection") loadBoxes(guessBoxes(item));
    const image = $("image");
    const url = imageUrl(item.sample);
    if (image.getAttribute("src") === url && image.complete) {
      fit();
      startClock();
    } else {
      image.src = url;
    }
    const next = nextPending(i);
    if (next >= 0 && next !== i) new Image().src = imageUrl(items[next].sample); // preload
  }

  $("image").addEventListener("load", () => {
    fit();
    startClock();
  });
  $("image").addEventListener("error", () => say("this image could not be loaded", true));
  window.addEventListener("resize", fit);

  function fit() {
    // Fit the image to the viewer; small images grow by whole multiples with square pixels.
    const image = $("image");
    const viewer = $("viewer").getBoundingClientRect();
    const w = image.naturalWidth;
    const h = image.naturalHeight;
    if (!w || !h) return;
    let scale = Math.min((viewer.width - 32) / w, (viewer.height - 32) / h);
    const small = scale >= 2;
    if (small) scale = Math.floor(scale);
    image.classList.toggle("pixelated", small);
    image.style.width = `${Math.max(1, Math.round(w * scale))}px`;
    image.style.height = `${Math.max(1, Math.round(h * scale))}px`;
    const overlay = $("overlay");
    overlay.setAttribute("viewBox", `0 0 ${w} ${h}`);
    overlay.setAttribute("preserveAspectRatio", "none");
  }

  function format(score) {
    return Math.abs(score) >= 100 || Math.abs(score) < 0.001 ? score.toExponential(2)
      : score.toFixed(3);
  }

  function showGuess(item) {
    const guess = $("guess");
    guess.replaceChildren();
    const strategy = state.batch.strategy;
    const score = item.score === null ? "" : ` · score ${format(item.score)} (${strategy})`;
    if (item.guess === null) {
      guess.textContent = state.batch.round === null
        ? "random draw: no model guess yet"
        : `no model guess${score}`;
    } else if (task === "classification") {
      guess.append("model's guess: ");
      const b = document.createElement("b");
      b.textContent = item.guess;
      guess.append(b, score);
    } else {
      const n = item.guess.boxes.length;
      guess.textContent = `model: ${n} box${n === 1 ? "" : "es"}${score}`;
    }
    for (const button of document.querySelectorAll("#classes button.class")) {
      button.classList.toggle("guess", task === "classification" && button.dataset.class === item.guess);
    }
  }

  function showDone() {
    $("work").hidden = true;
    $("done").hidden = false;
    delete document.body.dataset.sample;
    if (!state.batch) {
      $("done-title").textContent = "No batch to label yet";
      $("done-text").textContent = "Ask ll4al for one:";
      $("second-opinion").hidden = true;
    } else {
      $("done-title").textContent = `Batch ${state.batch.id}: all ${items.length} images answered`;
      $("done-text").textContent = mode === "mine"
        ? `You (${state.annotator}) have labeled every image of this batch. Next:`
        : "Every image of this batch has a label. Train on them and get the next batch:";
      $("second-opinion").hidden = mode === "mine";
    }
    $("next-step").textContent = state.next_step;
  }

  // --- classification: one button per class ----------------------------------------------

  function buildClasses() {
    const list = $("classes");
    list.replaceChildren();
    state.classes.forEach((name, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "class";
      button.dataset.class = name;
      button.dataset.index = String(index);
      const key = document.createElement("kbd");
      const label = document.createElement("span");
      label.textContent = name;
      button.append(key, label);
      button.addEventListener("click", () => {
        button.blur(); // Enter or Space must not press it again on the next image
        if (task === "classification") answer(name);
        else chooseClass(index);
      });
      list.append(button);
    });
    $("filter").hidden = state.classes.length <= 9;
    applyFilter();
  }

  function visibleButtons() {
    return [...document.querySelectorAll("#classes button.class")].filter((b) => !b.hidden);
  }

  function applyFilter() {
    const query = $("filter").value.trim().toLowerCase();
    for (const button of document.querySelectorAll("#classes button.class")) {
      button.hidden = query !== "" && !button.dataset.class.toLowerCase().includes(query);
    }
    const shown = visibleButtons();
    const keys = assignKeys(shown.map((button) => button.dataset.class));
    shown.forEach((button, k) => {
      button.dataset.key = keys[k];
      button.querySelector("kbd").textContent = keys[k];
    });
  }

  function assignKeys(names) {
    // A name that is a key keeps it; the other names take the keys left, in order ("" past ten).
    const free = KEYS.filter((key) => !names.includes(key));
    return names.map((name) => (KEYS.includes(name) ? name : free.shift() || ""));
  }

  function clearFilter() {
    $("filter").value = "";
    applyFilter();
    $("filter").blur();
  }

  $("filter").addEventListener("input", applyFilter);

  // --- answering, skipping, undoing ----------------------------------------------------------

  // One answer to the server (a label, or "cannot be labeled"), timed from the image's clock:
  // on success the progress is updated, ``saved`` says what was stored, and the next image shows.
  async function submit(path, fields, saved) {
    if (busy || current < 0) return;
    const item = items[current];
    stopClock();
    const seconds = Math.max(spent.get(item.sample) || 0, 0.001);
    busy = true;
    try {
      const data = await api(path, { batch: state.batch.id, sample: item.sample, ...fields, seconds });
      spent.delete(item.sample);
      applyProgress(data);
      saved(data, item);
      show(nextPending(current));
    } catch (error) {
      say(`not saved: ${error.message}`, true);
      startClock();
    } finally {
      busy = false;
    }
  }

  function answer(value) {
    return submit("api/label", { value }, (data, item) => {
      clearFilter();
      say(data.label === null ? data.message : `saved: ${item.sample} → ${describe(value)}`);
    });
  }

  function describe(value) {
    if (typeof value === "string") return value;
    return `${value.boxes.length} box${value.boxes.length === 1 ? "" : "es"}`;
  }

  function skip() {
    if (busy || current < 0) return;
    const next = nextPending(current);
    say(next === current ? "this is the only image left" : `skipped ${items[current].sample}`);
    show(next);
  }

  function cannotLabel() {
    // Recorded as a skip of this image for the batch: the batch can close without it.
    return submit("api/cannot-label", {}, (data, item) => say(`cannot be labeled: ${item.sample}`));
  }

  async function undo() {
    if (busy || history.length === 0) return;
    const id = history[history.length - 1];
    busy = true;
    try {
      const data = await api("api/undo", { label: id });
      history.pop();
      applyProgress(data);
      const i = items.findIndex((item) => item.sample === data.sample);
      say(`undone: ${data.sample} (was ${describe(data.value)})`);
      if (i >= 0) {
        show(i);
        if (task === "detection") loadBoxes(valueBoxes(data.value));
      }
    } catch (error) {
      if (error.status === 404) {
        history.pop(); // gone already (another tab undid it)
        $("undo").disabled = history.length === 0;
      }
      say(`undo failed: ${error.message}`, true);
    } finally {
      busy = false;
    }
  }

  $("skip").addEventListener("click", (event) => {
    event.currentTarget.blur();
    skip();
  });
  $("cannot").addEventListener("click", (event) => {
    event.currentTarget.blur();
    cannotLabel();
  });
  $("undo").addEventListener("click", (event) => {
    event.currentTarget.blur();
    undo();
  });
  $("done-undo").addEventListener("click", (event) => {
    event.currentTarget.blur();
    undo();
  });

  // --- detection: the model's boxes, accept, delete, relabel, draw --------------------------------

  function guessBoxes(item) {
    if (!item.guess) return [];
    const threshold = Number($("threshold").value) || 0;
    const out = [];
    item.guess.boxes.forEach((box, k) => {
      const score = item.guess.scores ? item.guess.scores[k] : null;
      if (score === null || score >= threshold) out.push({ box: box.slice(), label: item.guess.labels[k], score });
    });
    return out;
  }

  function valueBoxes(value) {
    return value.boxes.map((box, k) => ({ box: box.slice(), label: value.labels[k], score: null }));
  }

  function loadBoxes(list) {
    boxes = list;
    selected = -1;
    drawBoxes();
  }

  function colorOf(label) {
    return COLORS[Math.max(0, state.classes.indexOf(label)) % COLORS.length];
  }

  function drawBoxes() {
    if (task !== "detection") return;
    const overlay = $("overlay");
    overlay.replaceChildren();
    const ns = "http://www.w3.org/2000/svg";
    boxes.forEach((b, k) => {
      const rect = document.createElementNS(ns, "rect");
      const [x1, y1, x2, y2] = b.box;
      rect.setAttribute("x", x1);
      rect.setAttribute("y", y1);
      rect.setAttribute("width", Math.max(0, x2 - x1));
      rect.setAttribute("height", Math.max(0, y2 - y1));
      rect.setAttribute("stroke", colorOf(b.label));
      rect.dataset.index = String(k);
      if (k === selected) rect.classList.add("selected");
      overlay.append(rect);
    });
    if (drawing) {
      const rect = document.createElementNS(ns, "rect");
      const [x1, y1, x2, y2] = ordered(drawing);
      rect.setAttribute("x", x1);
      rect.setAttribute("y", y1);
      rect.setAttribute("width", x2 - x1);
      rect.setAttribute("height", y2 - y1);
      rect.classList.add("drawing");
      overlay.append(rect);
    }
    const list = $("box-list");
    list.replaceChildren();
    boxes.forEach((b, k) => {
      const row = document.createElement("li");
      if (k === selected) row.classList.add("selected");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colorOf(b.label);
      const select = document.createElement("select");
      for (const name of state.classes) select.append(new Option(name, name, false, name === b.label));
      select.addEventListener("change", () => {
        b.label = select.value;
        selected = k;
        drawBoxes();
      });
      const score = document.createElement("span");
      score.className = "muted";
      score.textContent = b.score === null ? "" : b.score.toFixed(2);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.title = "delete this box (Delete)";
      remove.addEventListener("click", () => deleteBox(k));
      row.addEventListener("click", (event) => {
        if (event.target === row || event.target === swatch || event.target === score) {
          selected = k;
          drawBoxes();
        }
      });
      row.append(swatch, select, score, remove);
      list.append(row);
    });
  }

  function deleteBox(k) {
    boxes.splice(k, 1);
    selected = -1;
    drawBoxes();
  }

  function chooseClass(index) {
    drawClass = index;
    if (selected >= 0) boxes[selected].label = state.classes[index];
    for (const button of document.querySelectorAll("#classes button.class")) {
      button.classList.toggle("current", Number(button.dataset.index) === index);
    }
    drawBoxes();
  }

  function ordered(d) {
    return [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1), Math.max(d.y0, d.y1)];
  }

  function imagePoint(event) {
    const image = $("image");
    const rect = $("overlay").getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * image.naturalWidth;
    const y = ((event.clientY - rect.top) / rect.height) * image.naturalHeight;
    return [Math.min(Math.max(x, 0), image.naturalWidth), Math.min(Math.max(y, 0), image.naturalHeight)];
  }

  // A drag draws a box (also one starting inside another box); a click selects the box under it.
  $("overlay").addEventListener("pointerdown", (event) => {
    if (task !== "detection" || event.button !== 0) return;
    const hit = event.target.dataset ? event.target.dataset.index : undefined;
    const [x, y] = imagePoint(event);
    drawing = { x0: x, y0: y, x1: x, y1: y, hit: hit === undefined ? -1 : Number(hit) };
    $("overlay").setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  $("overlay").addEventListener("pointermove", (event) => {
    if (!drawing) return;
    [drawing.x1, drawing.y1] = imagePoint(event);
    drawBoxes();
  });
  $("overlay").addEventListener("pointerup", () => {
    if (!drawing) return;
    const [x1, y1, x2, y2] = ordered(drawing);
    const image = $("image");
    const minimum = (2 * image.naturalWidth) / image.getBoundingClientRect().width; // 2 screen px
    const hit = drawing.hit;
    drawing = null;
    if (x2 - x1 >= Math.max(minimum, 0.5) && y2 - y1 >= Math.max(minimum, 0.5)) {
      boxes.push({ box: [x1, y1, x2, y2], label: state.classes[drawClass], score: null });
      selected = boxes.length - 1;
    } else {
      selected = hit;
    }
    drawBoxes();
  });

  $("overlay").addEventListener("pointercancel", () => {
    drawing = null;
    drawBoxes();
  });

  function acceptBoxes() {
    const round = (v) => Math.round(v * 10) / 10;
    const kept = boxes
      .map((b) => ({ box: b.box.map(round), label: b.label }))
      .filter((b) => b.box[2] > b.box[0] && b.box[3] > b.box[1]);
    answer({ boxes: kept.map((b) => b.box), labels: kept.map((b) => b.label) });
  }

  $("accept").addEventListener("click", (event) => {
    event.currentTarget.blur();
    acceptBoxes();
  });
  $("threshold").addEventListener("change", () => {
    if (current >= 0) loadBoxes(guessBoxes(items[current]));
  });

  // --- keys --------------------------------------------------------------------------------

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z" && !event.shiftKey) {
      if (target instanceof HTMLInputElement) return;
      event.preventDefault();
      undo();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target === $("filter")) {
      if (event.key === "Enter") {
        event.preventDefault();
        const query = $("filter").value.trim().toLowerCase();
        const shown = visibleButtons();
        const exact = shown.find((b) => b.dataset.class.toLowerCase() === query);
        const choice = exact || (shown.length ? shown[0] : null);
        if (choice) choice.click();
      } else if (event.key === "Escape") {
        clearFilter();
      }
      return;
    }
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) return;
    const key = event.key;
    if (KEYS.includes(key)) {
      const button = visibleButtons().find((b) => b.dataset.key === key);
      if (button) {
        event.preventDefault();
        button.click();
      }
    } else if (key === "s" || key === "S" || key === "ArrowRight") {
      event.preventDefault();
      skip();
    } else if (key === "x" || key === "X") {
      event.preventDefault();
      cannotLabel();
    } else if (key === "u" || key === "U" || (key === "Backspace" && task === "classification")) {
      event.preventDefault();
      undo();
    } else if ((key === "w" || key === "W") && current >= 0) {
      event.preventDefault(); // the next intensity window (DICOM, 16-bit and float images)
      windowChoice = (windowChoice + 1) % state.windows.length;
      say(`window: ${state.windows[windowChoice]}`);
      show(current);
    } else if (key === "/" && !$("filter").hidden) {
      event.preventDefault();
      $("filter").focus();
    } else if (task === "detection" && key === "Enter") {
      event.preventDefault();
      acceptBoxes();
    } else if (task === "detection" && (key === "Delete" || key === "Backspace") && selected >= 0) {
      event.preventDefault();
      deleteBox(selected);
    } else if (task === "detection" && key === "Escape") {
      selected = -1;
      drawBoxes();
    }
  });

  // --- start -------------------------------------------------------------------------------

  async function start() {
    try {
      state = await api(`api/state?mode=${mode}`);
    } catch (error) {
      $("batch").textContent = "";
      say(error.message, true);
      return;
    }
    items = state.items;
    buildClasses();
    if (task === "detection") {
      $("accept").hidden = false;
      $("box-list").hidden = false;
      $("threshold-row").hidden = false;
      chooseClass(0);
      $("keys").textContent = "Drag on the image to draw a box of the chosen class. Keys: a class's number " +
        "(relabels the selected box), Enter accept, Delete remove the selected box, S skip, X cannot be labeled, U undo, " +
        "W window.";
    } else {
      $("keys").textContent = state.classes.length > 9
        ? "Keys: the number on a class shown, / filter (Enter picks), S skip, X cannot be labeled, U undo, W window."
        : "Keys: the number on a class, S skip, X cannot be labeled, U undo, W window.";
    }
    if (state.batch) {
      const source = state.batch.round === null ? "random draw"
        : `round ${state.batch.round}, ${state.batch.strategy}`;
      $("batch").textContent = `batch ${state.batch.id} (${source})${mode === "mine" ? " · second opinion" : ""}`;
    } else {
      $("batch").textContent = "no batch yet";
    }
    applyProgress(state);
    const resume = items.findIndex((item) => item.sample === state.resume);
    show(resume);
  }

  start();
})();
