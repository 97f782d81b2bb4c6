// Counts a break down on screen; the server enforces it whatever this shows.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll(".countdown"), function (el) {
    var left = Number(el.dataset.seconds);
    var tick = function () {
      el.textContent = Math.floor(left / 60) + " min " + (left % 60) + " s";
      if (left <= 0) { window.location.reload(); return; }
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  });
})();
