# syntax=docker/dockerfile:1
# One image, three processes (see deployment/README.md):
#   api (default)   node api/dist/src/server.js     REST, WebSocket gateway, console at /console/
#   worker          node api/dist/src/worker.js     task runtimes, no listener (or: npm run worker)
#   migrate         node api/dist/src/cli/migrate.js   one-shot, before each rollout (npm run migrate)
# Build: docker build -t agentvm:1.0.0 .     (BuildKit: Docker 23+, or docker compose v2)
# Try:   docker run --rm -p 8000:8000 -e AGENT_ENV=development agentvm:1.0.0   (embedded PGlite)

# Node 24 LTS, pinned to a patch release: a rebuild never changes Node underneath us.
ARG NODE_IMAGE=node:24.11.1-bookworm-slim

# --- build: every workspace's dependencies, compile the api (tsc) and the console (vite) --------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first so the dependency layer is reused until package*.json change. npm ci checks
# the lockfile against every workspace, so every workspace manifest is needed.
COPY package.json package-lock.json ./
COPY api/package.json api/
COPY web-client/package.json web-client/
COPY deployment/package.json deployment/
COPY godot-plugin/package.json godot-plugin/
COPY bench/package.json bench/
# --ignore-scripts: the only install scripts belong to dev tools the build does not run (the
# GDScript checker's tree-sitter, testcontainers' ssh2); esbuild and rolldown find their
# platform binaries through optional dependencies without them.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund
COPY api api
COPY web-client web-client
RUN npm run build

# --- runtime: production dependencies of the api only, non-root, tini as PID 1 -----------------
FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="agentvm" \
      org.opencontainers.image.description="AgentVM api, worker and console: a bridge between game engines and AI agents"
ENV NODE_ENV=production \
    AGENT_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
# tini forwards SIGTERM to node (graceful shutdown: drain requests, flush positions, hand running
# tasks back) and reaps zombies left by command-runtime process groups.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY api/package.json api/
COPY web-client/package.json web-client/
COPY deployment/package.json deployment/
COPY godot-plugin/package.json godot-plugin/
COPY bench/package.json bench/
# Only what the api needs at run time: no dev dependencies, no other workspace's packages.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --workspace api --include-workspace-root --ignore-scripts --no-audit --no-fund
COPY --from=build /app/api/dist api/dist
COPY --from=build /app/web-client/dist web-client/dist
COPY api/drizzle api/drizzle
COPY configs configs
# The code stays root-owned (read-only to the process); only ./data (embedded PGlite, used when
# no DATABASE_URL is set) is writable.
RUN mkdir -p /app/data && chown node:node /app/data
# The image's `node` user, by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 1000:1000
EXPOSE 8000
# Liveness only: /health touches no backing service. A worker serves no HTTP, so worker
# containers turn this off (compose: healthcheck.disable; ECS/Kubernetes ignore it).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "api/dist/src/server.js"]
