'use strict'

// An unmodified OpenFaaS node20 template function: (event, context) with context.status()/succeed().
module.exports = async (event, context) => {
  const who = (event.body && event.body.name) || event.query.name || 'stranger'
  return context
    .status(200)
    .headers({ 'content-type': 'application/json' })
    .succeed({ greeting: `Hi ${who}`, method: event.method, path: event.path })
}
