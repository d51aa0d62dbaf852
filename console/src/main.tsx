import { render } from 'preact'
import { App } from './app.js'
import { ConsoleContext, ConsoleState } from './state/console.js'
import './styles.css'

const state = new ConsoleState(sessionStorage)
const root = document.getElementById('app')
if (root !== null) {
  render(
    <ConsoleContext.Provider value={state}>
      <App />
    </ConsoleContext.Provider>,
    root,
  )
}
void state.resume()
// Back online after the network dropped: reconnect now instead of waiting for the back-off.
window.addEventListener('online', () => {
  state.stream.reconnect()
})
