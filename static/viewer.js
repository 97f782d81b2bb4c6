// Safe viewer: reveals are POSTs that the server logs before answering with a one-time URL;
// the revealed bytes are fetched by POST too, so no GET, prefetch or cache ever holds them.
(function () {
  "use strict";
  var root = document.getElementById("viewer");
  if (!root) { return; }
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var img = document.getElementById("media");
  var placeholder = document.getElementById("placeholder");
  var status = document.getElementById("status");
  var reblur = document.getElementById("reblur");
  var box = document.getElementById("region-box");
  var stage = document.getElementById("stage");
  var levelName = document.getElementById("level-name");
  var safeLabel = levelName ? levelName.textContent : "";
  var LEVEL_NAMES = { 2: "peek", 3: "grayscale", 4: "original" };
  var heartbeatMs = Number(root.dataset.heartbeat) * 1000;
  var heartbeatUrl = root.dataset.heartbeatUrl;
  var currentEvent = root.dataset.event;
  var defaultSrc = img.getAttribute("src");
  var objectUrl = null;

  function newId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function say(text) { if (status) { status.textContent = text; } }
  function label(text) { if (levelName) { levelName.textContent = text; } }

  function post(url, form) {
    var body = form || new FormData();
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin", cache: "no-store",
      headers: { "X-CSRFToken": csrf }
    });
  }

  var player = document.getElementById("player");

  function visible() {
    // A video counts only while it plays; an image while it is on screen.
    var watching = !player || player.hidden || !player.paused;
    return document.visibilityState === "visible" && document.hasFocus() && watching;
  }

  function beat() {
    if (!currentEvent || !visible()) { return; }
    post(heartbeatUrl.replace("EVENT", currentEvent));
  }

  function finalBeacon() {
    if (!currentEvent || !navigator.sendBeacon) { return; }
    var form = new FormData();
    form.append("csrf_token", csrf);
    navigator.sendBeacon(heartbeatUrl.replace("EVENT", currentEvent), form);
  }

  function showSafe() {
    if (player) { player.pause(); player.removeAttribute("src"); player.load(); player.hidden = true; }
    if (objectUrl) { URL.revokeObjectURL(objectUrl); objectUrl = null; }
    if (placeholder) { placeholder.hidden = false; img.hidden = true; img.removeAttribute("src"); }
    else { img.src = defaultSrc; }
    currentEvent = root.dataset.event;
    if (reblur) { reblur.hidden = true; }
    img.dataset.revealed = "0";
    label(safeLabel);
    say("Blurred again.");
  }

  function reveal(level, region, audio) {
    var form = new FormData();
    var eventId = newId();
    form.append("level", String(level));
    form.append("client_event_id", eventId);
    if (region) { form.append("region", region); }
    if (audio) { form.append("audio", "1"); }
    return post(root.dataset.revealUrl, form).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.message || ("refused (" + r.status + ")")); }
        return post(body.url);
      });
    }).then(function (r) {
      if (!r.ok) { throw new Error("the revealed image could not be fetched (" + r.status + ")"); }
      return r.blob();
    }).then(function (blob) {
      if (objectUrl) { URL.revokeObjectURL(objectUrl); }
      objectUrl = URL.createObjectURL(blob);
      if (player) {
        // A revealed video is never autoplayed, and stays muted unless sound was revealed.
        player.pause();
        player.muted = !audio;
        player.src = objectUrl;
        player.hidden = false;
      } else {
        img.src = objectUrl;
        img.hidden = false;
        if (placeholder) { placeholder.hidden = true; }
      }
      img.dataset.revealed = String(level);
      label("Showing: " + LEVEL_NAMES[level] + (region ? " (one region)" : ""));
      currentEvent = eventId;
      if (reblur) { reblur.hidden = false; }
      say("Revealed and recorded. Use 'Blur again' when you are done.");
    }).catch(function (err) { say(err.message); });
  }

  var playBtn = document.getElementById("play");
  if (playBtn && player) {
    playBtn.addEventListener("click", function () {
      var form = new FormData();
      var eventId = newId();
      form.append("client_event_id", eventId);
      post(root.dataset.playUrl, form).then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error(body.message || ("refused (" + r.status + ")")); }
          player.muted = true;
          player.src = body.url;
          player.hidden = false;
          currentEvent = eventId;
          say("Blurred and muted. Press play on the video when you are ready.");
        });
      }).catch(function (err) { say(err.message); });
    });
    ["play", "pause", "ended", "seeked"].forEach(function (name) {
      player.addEventListener(name, beat);
    });
  }
  var unmute = document.getElementById("unmute");
  if (unmute) {
    unmute.addEventListener("click", function () {
      var level = Number(img.dataset.revealed || "1") || 1;
      reveal(level, null, true);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("button.reveal"), function (btn) {
    btn.addEventListener("click", function () { reveal(Number(btn.dataset.level)); });
  });
  if (reblur) { reblur.addEventListener("click", showSafe); }

  var peek = document.getElementById("peek");
  if (peek) {
    var holding = false;
    var start = function (e) { e.preventDefault(); holding = true; reveal(2).then(function () { if (!holding) { showSafe(); } }); };
    var stop = function () { if (holding) { holding = false; showSafe(); } };
    peek.addEventListener("pointerdown", start);
    peek.addEventListener("pointerup", stop);
    peek.addEventListener("pointerleave", stop);
    peek.addEventListener("keydown", function (e) { if ((e.key === " " || e.key === "Enter") && !holding) { start(e); } });
    peek.addEventListener("keyup", stop);
  }

  var regionBtn = document.getElementById("region");
  var drawing = false, origin = null;
  if (regionBtn) {
    regionBtn.addEventListener("click", function () {
      drawing = !drawing;
      regionBtn.setAttribute("aria-pressed", String(drawing));
      say(drawing ? "Drag a rectangle over the image to reveal only that part." : "");
    });
    stage.addEventListener("pointerdown", function (e) {
      if (!drawing || img.hidden) { return; }
      e.preventDefault();
      // Keep getting the pointer when the drag leaves the image, so the release still counts.
      stage.setPointerCapture(e.pointerId);
      var rect = img.getBoundingClientRect();
      origin = { x: e.clientX, y: e.clientY, rect: rect };
      box.hidden = false;
      box.style.left = (e.clientX - stage.getBoundingClientRect().left) + "px";
      box.style.top = (e.clientY - stage.getBoundingClientRect().top) + "px";
      box.style.width = "0px"; box.style.height = "0px";
    });
    stage.addEventListener("pointermove", function (e) {
      if (!origin) { return; }
      var s = stage.getBoundingClientRect();
      box.style.left = (Math.min(e.clientX, origin.x) - s.left) + "px";
      box.style.top = (Math.min(e.clientY, origin.y) - s.top) + "px";
      box.style.width = Math.abs(e.clientX - origin.x) + "px";
      box.style.height = Math.abs(e.clientY - origin.y) + "px";
    });
    stage.addEventListener("pointerup", function (e) {
      if (!origin) { return; }
      var r = origin.rect;
      var clamp = function (v) { return Math.min(1, Math.max(0, v)); };
      var x0 = clamp((Math.min(e.clientX, origin.x) - r.left) / r.width);
      var y0 = clamp((Math.min(e.clientY, origin.y) - r.top) / r.height);
      var x1 = clamp((Math.max(e.clientX, origin.x) - r.left) / r.width);
      var y1 = clamp((Math.max(e.clientY, origin.y) - r.top) / r.height);
      origin = null; box.hidden = true; drawing = false;
      regionBtn.setAttribute("aria-pressed", "false");
      if (x1 - x0 < 0.01 || y1 - y0 < 0.01) { say("That region is too small."); return; }
      var region = [x0, y0, x1 - x0, y1 - y0].map(function (v) { return v.toFixed(4); }).join(",");
      reveal(3, region);
    });
  }

  setInterval(beat, heartbeatMs);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { finalBeacon(); } else { beat(); }
  });
  window.addEventListener("pagehide", finalBeacon);
})();
