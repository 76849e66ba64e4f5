// Security keys and passkeys (WebAuthn, issue 23). Our own code, no library: the browser's
// navigator.credentials does the ceremony; the server (protection/security_keys.py) makes the
// challenge and checks the answer. Two uses:
// - a button [data-security-key="get"] inside a form (second factor at sign-in, approvals):
//   asks data-options-url for a challenge bound to data-purpose and data-target, lets the user
//   touch their key, puts the answer in the form's hidden "assertion" field and submits;
// - a form [data-security-key-register]: on submit, creates a key with the options from
//   data-options-url, puts the answer in its hidden "credential" field and submits.
"use strict";
(function () {
  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function status(container, message) {
    var place = container.querySelector("[data-security-key-status]");
    if (place) { place.textContent = message; }
  }

  function fetchOptions(form, url, fields) {
    var body = new URLSearchParams();
    var token = form.querySelector("input[name='csrf_token']");
    body.set("csrf_token", token ? token.value : "");
    Object.keys(fields).forEach(function (name) {
      if (fields[name]) { body.set(name, fields[name]); }
    });
    return fetch(url, {method: "POST", body: body, credentials: "same-origin",
                       headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("options " + response.status); }
        return response.json();
      });
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return {type: item.type, id: toBytes(item.id), transports: item.transports};
    });
  }

  function assertionJson(credential) {
    var response = credential.response;
    return JSON.stringify({
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {clientDataJSON: toText(response.clientDataJSON),
                 authenticatorData: toText(response.authenticatorData),
                 signature: toText(response.signature), userHandle: toText(response.userHandle)}
    });
  }

  function registrationJson(credential) {
    var response = credential.response;
    return JSON.stringify({
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {clientDataJSON: toText(response.clientDataJSON),
                 attestationObject: toText(response.attestationObject),
                 transports: response.getTransports ? response.getTransports() : []}
    });
  }

  function supported() {
    return window.PublicKeyCredential && navigator.credentials && window.isSecureContext;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-security-key='get']") : null;
    if (!button) { return; }
    event.preventDefault();
    var form = button.closest("form");
    var failed = button.getAttribute("data-error");
    if (!supported()) {
      status(form, button.getAttribute("data-unsupported"));
      return;
    }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { return; }
    button.disabled = true;
    status(form, button.getAttribute("data-waiting"));
    fetchOptions(form, button.getAttribute("data-options-url"),
                 {purpose: button.getAttribute("data-purpose"), target: button.getAttribute("data-target")})
      .then(function (options) {
        return navigator.credentials.get({publicKey: {
          challenge: toBytes(options.challenge), rpId: options.rpId, timeout: options.timeout,
          userVerification: options.userVerification, allowCredentials: descriptors(options.allowCredentials)
        }});
      })
      .then(function (credential) {
        form.querySelector("input[name='assertion']").value = assertionJson(credential);
        HTMLFormElement.prototype.submit.call(form);  // confirmed above: no second question
      })
      .catch(function () {
        button.disabled = false;
        status(form, failed);
      });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-security-key-register")) { return; }
    var field = form.querySelector("input[name='credential']");
    if (field.value) { return; }
    event.preventDefault();
    if (!supported()) {
      status(form, form.getAttribute("data-unsupported"));
      return;
    }
    status(form, form.getAttribute("data-waiting"));
    fetchOptions(form, form.getAttribute("data-options-url"), {})
      .then(function (options) {
        var publicKey = Object.assign({}, options, {
          challenge: toBytes(options.challenge),
          user: Object.assign({}, options.user, {id: toBytes(options.user.id)}),
          excludeCredentials: descriptors(options.excludeCredentials)
        });
        return navigator.credentials.create({publicKey: publicKey});
      })
      .then(function (credential) {
        field.value = registrationJson(credential);
        HTMLFormElement.prototype.submit.call(form);
      })
      .catch(function () {
        status(form, form.getAttribute("data-error"));
      });
  });
}());
