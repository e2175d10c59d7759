// Counts what the page shows, and lights a stage's details when its bar or
// node is clicked. Reads the page only: it loads nothing and sends nothing.
(function () {
  var stages = document.querySelectorAll("article.stage");
  var attempts = document.querySelectorAll("article.stage ol.attempts li");
  var retried = document.querySelectorAll("article.stage ol.attempts li.o-retried");
  var failed = document.querySelectorAll("article.stage[data-status='failed']");
  var summary = document.getElementById("summary");
  if (summary) {
    summary.textContent = stages.length + " stages, " + attempts.length + " attempts, " + retried.length + " retried, " + failed.length + " failed";
  }
  function light(id) {
    stages.forEach(function (s) { s.classList.toggle("lit", s.getAttribute("data-stage") === id); });
  }
  document.querySelectorAll("svg [data-stage]").forEach(function (el) {
    el.addEventListener("click", function () {
      var id = el.getAttribute("data-stage");
      light(id);
      var target = document.getElementById("stage-" + id);
      if (target) { target.scrollIntoView({ block: "center" }); }
    });
  });
  document.documentElement.setAttribute("data-ready", "1");
})();
