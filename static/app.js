// Progressive enhancement: a show/hide button next to each password field. The pages work without it.
(function () {
  "use strict";
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
})();
