// A stand-in for Stripe.js v3, served only by Paygate's Stripe simulator for offline demos and tests:
// never used with real Stripe. It implements a few documented calls with their documented results:
// Stripe(key, {stripeAccount}), stripe.elements({clientSecret}), elements.create("payment" |
// "paymentRequestButton"), element.mount(), stripe.confirmPayment({elements | clientSecret,
// confirmParams: {return_url, payment_method}, redirect}), stripe.paymentRequest({country, currency,
// total}) with canMakePayment(), on("paymentmethod"), and the event's complete(). A page written
// against these works unchanged with the real Stripe.js.
(function () {
  "use strict";
  var script = document.currentScript;
  var API = script.src.replace(/\/js\/v3\/?$/, "");

  function intentId(clientSecret) { return clientSecret.split("_secret_")[0]; }

  function confirm(key, account, clientSecret, fields) {
    var body = new URLSearchParams(Object.assign({ key: key, client_secret: clientSecret }, fields));
    if (account) { body.set("_stripe_account", account); }
    return fetch(API + "/v1/payment_intents/" + intentId(clientSecret) + "/confirm", {
      method: "POST", body: body, credentials: "omit",
    }).then(function (answer) { return answer.json(); });
  }

  function Stripe(key, options) {
    var account = options && options.stripeAccount;
    var stripe = {};

    stripe.elements = function (elementsOptions) {
      var clientSecret = elementsOptions && elementsOptions.clientSecret;
      var cardInput = null;
      return {
        _clientSecret: clientSecret,
        _cardNumber: function () { return cardInput ? cardInput.value : ""; },
        create: function (type, createOptions) {
          return {
            mount: function (target) {
              var host = typeof target === "string" ? document.querySelector(target) : target;
              if (type === "payment") {
                cardInput = document.createElement("input");
                cardInput.name = "cardnumber";
                cardInput.autocomplete = "cc-number";
                cardInput.placeholder = "Card number (test cards: 4242 4242 4242 4242)";
                cardInput.setAttribute("data-stripe-standin", "card-number");
                host.appendChild(cardInput);
              } else if (type === "paymentRequestButton") {
                var button = document.createElement("button");
                button.type = "button";
                button.textContent = "Pay with a wallet (simulated Apple Pay / Google Pay)";
                button.setAttribute("data-stripe-standin", "wallet-button");
                button.addEventListener("click", function () { createOptions.paymentRequest._choose(); });
                host.appendChild(button);
              }
            },
          };
        },
      };
    };

    stripe.confirmPayment = function (params) {
      var confirmParams = params.confirmParams || {};
      var clientSecret = params.clientSecret || (params.elements && params.elements._clientSecret);
      var fields = { return_url: confirmParams.return_url || "" };
      if (confirmParams.payment_method) {
        fields.payment_method = confirmParams.payment_method;
      } else {
        fields["payment_method_data[type]"] = "card";
        fields["payment_method_data[card][number]"] = params.elements._cardNumber();
      }
      return confirm(key, account, clientSecret, fields).then(function (answer) {
        if (answer.error) { return { error: answer.error }; }
        if (answer.status === "requires_action" && answer.next_action && answer.next_action.redirect_to_url) {
          window.location.assign(answer.next_action.redirect_to_url.url);
          return new Promise(function () {});  // the page is leaving, as with Stripe's redirect
        }
        if (params.redirect === "if_required") { return { paymentIntent: answer }; }
        var back = new URL(confirmParams.return_url);
        back.searchParams.set("payment_intent", answer.id);
        back.searchParams.set("payment_intent_client_secret", clientSecret);
        back.searchParams.set("redirect_status", answer.status);
        window.location.assign(back.toString());
        return new Promise(function () {});
      });
    };

    stripe.paymentRequest = function () {
      var handlers = {};
      return {
        canMakePayment: function () { return Promise.resolve({ applePay: true, googlePay: true }); },
        on: function (name, handler) { handlers[name] = handler; },
        show: function () { this._choose(); },
        _choose: function () {
          if (!handlers.paymentmethod) { return; }
          handlers.paymentmethod({
            paymentMethod: { id: "pm_standin_apple_pay", type: "card", card: { wallet: { type: "apple_pay" } } },
            walletName: "applePay",
            complete: function () {},
          });
        },
      };
    };
    return stripe;
  }

  window.Stripe = Stripe;
})();
