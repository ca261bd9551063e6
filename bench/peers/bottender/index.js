// The bot: answers nothing. Bottender acknowledges the webhook (200) once each event's session
// is read and its context built, then runs this handler and writes the session after.
module.exports = async function App() {};
