// The invoice form's "Add a line" button: copies the empty line template, up to the form's line limit.
(function () {
  "use strict";
  var button = document.getElementById("add-line");
  if (!button) {
    return;
  }
  button.addEventListener("click", function () {
    var total = document.getElementById("id_lines-TOTAL_FORMS");
    var max = parseInt(document.getElementById("id_lines-MAX_NUM_FORMS").value, 10);
    var index = parseInt(total.value, 10);
    if (!isNaN(max) && index >= max) {
      button.disabled = true;
      button.textContent = "At most " + max + " lines";
      return;
    }
    var html = document.getElementById("line-template").innerHTML.replace(/__prefix__/g, index);
    document.getElementById("line-rows").insertAdjacentHTML("beforeend", html);
    total.value = index + 1;
  });
})();
