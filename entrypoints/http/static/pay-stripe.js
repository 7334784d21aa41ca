// Paygate's hosted pay page, Stripe part: the wallet button (Payment Request: Apple Pay, Google Pay)
// and a card form (Payment Element), confirmed with Stripe.js on the seller's connected account.
// pay.js watches the status and returns the customer to the marketplace once it is final.
(function () {
  "use strict";
  var section = document.getElementById("stripe");
  if (!section || typeof Stripe !== "function") { return; }
  var data = section.dataset;
  var errorLine = document.getElementById("stripe-error");
  var stripe = Stripe(data.publishableKey, { stripeAccount: data.stripeAccount });
  // After a 3-D Secure redirect Stripe brings the customer back to this page.
  var here = window.location.href;

  function settled(result) {
    if (result.error) {
      errorLine.textContent = result.error.message || "The payment did not go through.";
    } else {
      errorLine.textContent = "";
      section.hidden = true;
    }
    return result;
  }

  var cardElements = stripe.elements({ clientSecret: data.clientSecret });
  cardElements.create("payment").mount("#payment-element");
  document.getElementById("card-form").addEventListener("submit", function (event) {
    event.preventDefault();
    errorLine.textContent = "";
    stripe.confirmPayment({ elements: cardElements, confirmParams: { return_url: here }, redirect: "if_required" })
      .then(settled);
  });

  var request = stripe.paymentRequest({
    country: "US",
    currency: data.currency,
    total: { label: data.label, amount: Number(data.amount) },
  });
  request.canMakePayment().then(function (wallets) {
    if (!wallets) { return; }
    stripe.elements().create("paymentRequestButton", { paymentRequest: request }).mount("#payment-request-button");
  });
  request.on("paymentmethod", function (event) {
    stripe.confirmPayment({
      clientSecret: data.clientSecret,
      confirmParams: { payment_method: event.paymentMethod.id, return_url: here },
      redirect: "if_required",
    }).then(function (result) {
      event.complete(result.error ? "fail" : "success");
      settled(result);
    });
  });
})();
