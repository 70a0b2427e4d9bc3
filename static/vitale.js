// Escale — reads the Carte Vitale through `escale agent` on this workstation.
// Loaded once in the page head; works on pages swapped in by htmx too (event
// delegation). Text only (textContent), never markup: what the card holds is
// not trusted. The card is a key to query INSi, never a proof of identity.
// The agent answers only this page: its Origin, and the session token Escale
// put in data-jeton (sent as X-Escale-Jeton; the agent checks it with the key
// it shares with Escale). Its refusals come with a French message, shown as is.
(function () {
  "use strict";
  if (!window.fetch) { return; }

  function reveal() {
    document.querySelectorAll("#vitale [data-vitale-read]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("htmx:afterSettle", reveal);

  function dateFr(iso) {
    var p = (iso || "").split("-");
    return p.length === 3 ? p[2] + "/" + p[1] + "/" + p[0] : "date lunaire";
  }

  function set(name, value) {
    var field = document.querySelector('form.usager [name="' + name + '"]');
    if (field && value) { field.value = value; }
  }

  function post(root, b) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = root.dataset.action;
    var fields = {
      _csrf: root.dataset.csrf,
      nir: b.nir || "",
      nir_ouvrant_droit: b.nir_ouvrant_droit || "",
      nom: b.nom || "",
      // A lunar date (00 for an unknown day or month) is sent as read on the card.
      date_naissance: b.date_naissance_iso || b.date_naissance || "",
      rang: b.rang ? String(b.rang) : ""
    };
    Object.keys(fields).forEach(function (k) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = k;
      input.value = fields[k];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  function choose(root, status, b) {
    if (root.dataset.action) {
      status.textContent = "Interrogation d'INSi avec la carte…";
      post(root, b);
      return;
    }
    set("birth_name", b.nom);
    set("first_names", b.prenom);
    set("birth_date", b.date_naissance_iso);
    status.textContent = "Traits pré-remplis depuis la carte : vérifiez-les sur une pièce d'identité (la carte ne prouve pas l'identité).";
  }

  function read(root) {
    var status = root.querySelector("[data-vitale-status]");
    var list = root.querySelector("[data-vitale-list]");
    status.textContent = "Lecture de la carte…";
    list.replaceChildren();
    fetch(root.dataset.agent + "/vitale/beneficiaires", {
      cache: "no-store",
      headers: { "X-Escale-Jeton": root.dataset.jeton || "" }
    })
      .then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, data: data }; });
      })
      .then(function (res) {
        if (!res.ok) {
          status.textContent = (res.data && res.data.message) || "Lecture de la carte impossible.";
          return;
        }
        status.textContent = res.data.length + " bénéficiaire(s) sur la carte : choisissez la personne présente.";
        res.data.forEach(function (b) {
          var item = document.createElement("li");
          var pick = document.createElement("button");
          pick.type = "button";
          pick.textContent = b.nom + " " + b.prenom + " — né(e) le " + dateFr(b.date_naissance_iso) +
            (b.rang ? " — rang " + b.rang : "");
          pick.addEventListener("click", function () { choose(root, status, b); });
          item.appendChild(pick);
          list.appendChild(item);
        });
      })
      .catch(function () {
        status.textContent = "L'agent carte Vitale ne répond pas sur ce poste : lancez-le (escale agent) ou saisissez les traits à la main.";
      });
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-vitale-read]");
    if (button) { read(button.closest("#vitale")); }
  });
})();
