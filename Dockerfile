# syntax=docker/dockerfile:1
#
# Liquid Edge images: one Dockerfile, one target per executable.
#   docker build --target broker     -t liquid-edge/broker .      # liquid-broker
#   docker build --target controller -t liquid-edge/controller .  # liquid-controller, liquid-lln
#   docker build --target agent      -t liquid-edge/agent .       # liquid-agent (run, simulate, model)
# Every target runs as the unprivileged `node` user (uid 1000), works with a read-only root
# filesystem (state goes to /var/lib/lln, a volume; scratch to /tmp, a tmpfs) and has a HEALTHCHECK.
ARG NODE_IMAGE=node:20.19-bookworm-slim

# ---- manifests: the workspace's package.json files, the only input of `npm ci`
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
COPY protocol/package.json protocol/
COPY package/package.json package/
COPY config/package.json config/
COPY http/package.json http/
COPY broker/package.json broker/
COPY agent/package.json agent/
COPY devices/package.json devices/
COPY controller/package.json controller/
COPY cli/package.json cli/
COPY console/package.json console/
COPY test/package.json test/

# ---- build: every dependency, TypeScript compiled into each package's dist/
FROM manifests AS build
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY protocol/ protocol/
COPY package/ package/
COPY config/ config/
COPY http/ http/
COPY broker/ broker/
COPY agent/ agent/
COPY devices/ devices/
COPY controller/ controller/
COPY cli/ cli/
COPY console/ console/
RUN npx tsc -b && npm run build --workspace @liquid-edge/console

# ---- production node_modules, one set per executable (a device image carries no aedes or BullMQ)
FROM manifests AS deps-broker
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund --workspace @liquid-edge/broker

FROM manifests AS deps-controller
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund --workspace @liquid-edge/controller --workspace @liquid-edge/cli

FROM manifests AS deps-agent
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund --workspace @liquid-edge/devices \
 && find . -type d \( -path '*/onnxruntime-node/bin/napi-v*/darwin' -o -path '*/onnxruntime-node/bin/napi-v*/win32' \) -prune \
      -exec rm -rf {} +

# ---- runtime base: no npm cache, no sources, an unprivileged user, state under /var/lib/lln
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/lln-entrypoint
COPY --chmod=0644 deploy/docker/healthcheck.mjs /usr/local/lib/lln/healthcheck.mjs
# Mount points owned by `node`: an empty named volume mounted on one of them starts with its owner.
RUN mkdir -p /var/lib/lln/models /var/lib/lln/signing /var/lib/lln/secrets /var/lib/lln/artifacts \
      /var/lib/lln/fleet /var/lib/lln/agent \
 && chown -R node:node /var/lib/lln
ENTRYPOINT ["lln-entrypoint"]

# ---- liquid-broker: MQTT 1883, /health and /metrics 9883
FROM runtime AS broker
# The whole tree: npm nests some dependencies in <package>/node_modules.
COPY --from=deps-broker /src ./
COPY --from=build /src/protocol/dist protocol/dist
COPY --from=build /src/config/dist config/dist
COPY --from=build /src/http/dist http/dist
COPY --from=build --chmod=0755 /src/broker/dist broker/dist
RUN ln -s /app/broker/dist/bin/liquid-broker.js /usr/local/bin/liquid-broker
USER node
EXPOSE 1883 9883
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "/usr/local/lib/lln/healthcheck.mjs", "http://127.0.0.1:9883/health/ready"]
CMD ["liquid-broker"]

# ---- liquid-controller (HTTP API, artifacts and /metrics on 8080) and the liquid-lln CLI
FROM runtime AS controller
# The whole tree: npm nests some dependencies in <package>/node_modules.
COPY --from=deps-controller /src ./
COPY --from=build /src/protocol/dist protocol/dist
COPY --from=build /src/package/dist package/dist
COPY --from=build /src/config/dist config/dist
COPY --from=build --chmod=0755 /src/controller/dist controller/dist
COPY --from=build --chmod=0755 /src/cli/dist cli/dist
# The web console, served at /ui/ (a static bundle: no runtime dependencies).
COPY --from=build /src/console/dist console/dist
ENV LLN_CONSOLE_DIR=/app/console/dist
RUN ln -s /app/controller/dist/bin/liquid-controller.js /usr/local/bin/liquid-controller \
 && ln -s /app/cli/dist/bin/liquid-lln.js /usr/local/bin/liquid-lln
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "/usr/local/lib/lln/healthcheck.mjs", "http://127.0.0.1:8080/health"]
CMD ["liquid-controller", "start"]

# ---- liquid-agent: one device (`run`, local API on --http-port) or a simulated fleet (`simulate`,
# fault control on --control-port); the healthcheck asks the URL in HEALTH_URL.
FROM runtime AS agent
# The whole tree: npm nests some dependencies in <package>/node_modules.
COPY --from=deps-agent /src ./
COPY --from=build /src/protocol/dist protocol/dist
COPY --from=build /src/package/dist package/dist
COPY --from=build /src/config/dist config/dist
COPY --from=build /src/http/dist http/dist
COPY --from=build /src/agent/dist agent/dist
COPY --from=build --chmod=0755 /src/devices/dist devices/dist
RUN ln -s /app/devices/dist/bin/liquid-agent.js /usr/local/bin/liquid-agent
USER node
ENV HEALTH_URL=http://127.0.0.1:9100/metrics
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "/usr/local/lib/lln/healthcheck.mjs"]
CMD ["liquid-agent", "--help"]
