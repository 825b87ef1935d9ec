// Progressive enhancement; the pages work without it.
(function () {
  "use strict";

  // A show/hide button next to each password field.
  var fields = document.querySelectorAll("input[type=password][data-toggle]");
  Array.prototype.forEach.call(fields, function (field) {
    var show = field.getAttribute("data-show");
    var hide = field.getAttribute("data-hide");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "toggle";
    button.textContent = show;
    button.setAttribute("aria-controls", field.id);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      var visible = field.type === "text";
      field.type = visible ? "password" : "text";
      button.textContent = visible ? show : hide;
      button.setAttribute("aria-pressed", visible ? "false" : "true");
    });
    field.insertAdjacentElement("afterend", button);
  });

  // A form shown again with problems: start at their summary, and let each of its links move to
  // the field while keeping the field's label and message in view.
  var summary = document.getElementById("form-problem");
  if (summary) {
    summary.focus();
    var links = summary.querySelectorAll("a[href^='#']");
    Array.prototype.forEach.call(links, function (link) {
      link.addEventListener("click", function (event) {
        var target = document.getElementById(link.getAttribute("href").slice(1));
        var field = target && target.closest(".field");
        if (!field) {
          return;
        }
        event.preventDefault();
        field.scrollIntoView();
        target.focus({ preventScroll: true });
      });
    });
  }
})();
