/**
 * @liquid-edge/http — one small HTTP toolkit (node:http, zod bodies) for the agent's local API, the
 * broker's /health and /metrics, and the simulated fleet's fault control. The controller's API is
 * fastify; a device does not carry fastify's 36 extra packages for three routes.
 */
export {
  startHttpServer,
  route,
  type HttpMethod,
  type HttpServer,
  type HttpServerOptions,
  type Route,
  type RouteReply,
  type RouteRequest,
} from './server.js'
