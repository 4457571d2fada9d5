# fcgipm: build the native addon and the TypeScript in a full image, ship only what runs.
#
#   docker build -t fcgipm .
#   docker run --init -p 8080:8080 -v /srv/app:/srv/app:ro fcgipm \
#       run --http 0.0.0.0:8080 -- /srv/app/app.fcgi
#   docker run --init -p 8080:8080 -v /etc/fcgipm:/etc/fcgipm:ro -v /srv:/srv:ro fcgipm \
#       serve --config /etc/fcgipm/fcgipm.yaml     # listen.http: 0.0.0.0:8080 in the file
#
# The default --http is 127.0.0.1:8080, which is not reachable from outside the container:
# pass --http 0.0.0.0:8080 as above. --init puts a reaper at PID 1 for grandchildren a worker
# leaves behind (php-cgi's children, for one); fcgipm reaps its own workers.

FROM node:20-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential python3 libfcgi-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc binding.gyp tsconfig.json tsconfig.build.json ./
# scripts/build-addon.js compiles the addon against the Node headers this image ships in
# /usr/local/include/node instead of downloading a header tarball.
COPY scripts ./scripts
COPY bin ./bin
COPY src ./src
COPY fixtures ./fixtures
# "install" runs node-gyp (build/Release/fcgipm_native.node); "prepare" runs tsc (dist/) and
# builds the fixtures. Then the dev dependencies go.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/build/Release/fcgipm_native.node ./build/Release/fcgipm_native.node
# The default IPC dir (DESIGN.md: mode 0700), owned by the unprivileged user the image runs as.
# Run as root (--user root) only to start workers as other users; then fcgipm sets the mode itself.
RUN mkdir -p /run/fcgidsock \
    && chown node:node /run/fcgidsock \
    && chmod 0700 /run/fcgidsock
USER node
EXPOSE 8080
ENTRYPOINT ["node", "--max-semi-space-size=2", "/app/bin/fcgipm.js"]
CMD ["--help"]
