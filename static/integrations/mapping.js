// The mapping page works as a plain form; with JavaScript, the search boxes narrow their select as you type
// (htmx), Enter in a search box searches instead of submitting the whole form, and the Search buttons hide.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && target && target.hasAttribute && target.hasAttribute("data-search")) {
      event.preventDefault();
      if (window.htmx) { window.htmx.trigger(target, "search"); }
    }
  });
})();
