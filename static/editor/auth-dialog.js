// Progressive enhancement for the Authentication dialog: without this script every
// scheme's fields show and the server validates the chosen one.
(function () {
  "use strict";
  var form = document.getElementById("auth-form");
  if (!form) return;

  function checked(name) {
    var el = form.querySelector('input[name="' + name + '"]:checked');
    return el ? el.value : "";
  }

  function sync() {
    var scheme = checked("auth_type");
    form.querySelectorAll("fieldset.scheme").forEach(function (fs) {
      fs.hidden = fs.dataset.scheme !== scheme;
    });
    var custom = form.querySelector('[data-show-when="custom"]');
    if (custom) custom.hidden = checked("api_key_auth_type") !== "custom";
  }

  form.addEventListener("change", sync);
  sync();

  // Enter in the Issuer field means Fetch, and in the preset list Apply (elsewhere: Save).
  [["id_issuer", "discover"], ["id_preset", "apply_preset"]].forEach(function (pair) {
    var field = document.getElementById(pair[0]);
    var button = form.querySelector('button[name="' + pair[1] + '"]');
    if (!field || !button) return;
    field.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      button.click();
    });
  });
})();
