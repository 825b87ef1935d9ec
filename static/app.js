// Progressive enhancement; the pages work without it.
(function () {
  "use strict";

  // A show/hide button next to each password field. Its text says what pressing it does (so it
  // carries no aria-pressed, which would contradict the changing text).
  var fields = document.querySelectorAll("input[type=password][data-toggle]");
  Array.prototype.forEach.call(fields, function (field) {
    var show = field.getAttribute("data-show");
    var hide = field.getAttribute("data-hide");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "toggle";
    button.textContent = show;
    button.setAttribute("aria-controls", field.id);
    button.addEventListener("click", function () {
      var visible = field.type === "text";
      field.type = visible ? "password" : "text";
      button.textContent = visible ? show : hide;
    });
    field.insertAdjacentElement("afterend", button);
    // Hidden again before sending, so the browser never keeps the password as ordinary text.
    if (field.form) {
      field.form.addEventListener("submit", function () {
        field.type = "password";
        button.textContent = show;
      });
    }
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
