# syntax=docker/dockerfile:1
# One image for every raftquotes node (SPEC §1, §4). In Docker each node uses HTTP 8080,
# Raft 7000 and controller 5555, and is configured only through RAFTQUOTES_* variables.
# Controller/Dockerfile builds the course's Controller container on top of this image.

# ---- build: TypeScript -> dist/ (needs the dev dependencies: typescript) ----
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspace's manifest: npm ci links node_modules/@raftquotes/raft to it.
COPY packages/raft/package.json ./packages/raft/
# --ignore-scripts: "prepare" would run the build before the sources are copied, and tsc
# needs no native module.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY packages/raft ./packages/raft
COPY src ./src
COPY web ./web
# The core (@raftquotes/raft, packages/raft/dist), then dist/, then the /sim page's bundle
# (esbuild, a dev dependency; its binary comes from npm, no install script needed).
RUN npm run build

# ---- deps: production node_modules only; better-sqlite3 compiled from source here ----
FROM node:20-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/raft/package.json ./packages/raft/
RUN npm ci --omit=dev --ignore-scripts \
 && npm rebuild better-sqlite3 --build-from-source

# ---- runtime: node, the compiled code, production modules; no compiler, not root ----
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    RAFTQUOTES_DATA_DIR=/data \
    RAFTQUOTES_HTTP=0.0.0.0:8080 \
    RAFTQUOTES_RAFT=0.0.0.0:7000 \
    RAFTQUOTES_CONTROLLER=0.0.0.0:5555
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# node_modules/@raftquotes/raft is a link to the workspace: its manifest and compiled code.
COPY --from=build /app/packages/raft/package.json ./packages/raft/
COPY --from=build /app/packages/raft/dist ./packages/raft/dist
COPY bin ./bin
COPY --from=build /app/web ./web
# `raftquotes` on PATH (docker exec Node1 raftquotes status); /data and /secret owned by the
# node user, mode 0700, so a fresh named volume mounted there inherits that ownership and mode
# (the peer secret in /secret must be readable by the node user only: SPEC §7).
RUN ln -s /app/bin/raftquotes /usr/local/bin/raftquotes \
 && mkdir -p /data /secret \
 && chown node:node /data /secret \
 && chmod 700 /data /secret
USER node
# No VOLUME here: it would give the Controller image (built FROM this one) an anonymous
# volume too. docker-compose.yml mounts a named volume per node at /data.
EXPOSE 8080 7000 5555/udp
# Liveness from inside the container, on whatever port RAFTQUOTES_HTTP names.
HEALTHCHECK --interval=5s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const port = (process.env.RAFTQUOTES_HTTP || '0.0.0.0:8080').split(':').pop(); fetch('http://127.0.0.1:' + port + '/healthz', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# bin/raftquotes starts node with the memory settings `cluster` gives its nodes (V8 flags, malloc).
ENTRYPOINT ["/app/bin/raftquotes"]
CMD ["node"]
