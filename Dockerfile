# fcgipm: build and install the package in a full image, ship the installed package in a slim one.
#
#   docker build -t fcgipm .
#   docker run --init -p 8080:8080 fcgipm                  # serves the bundled hello app
#   docker run --init -p 8080:8080 -v /srv/app:/srv/app:ro fcgipm \
#       run --http 0.0.0.0:8080 --admin 127.0.0.1:9180 -- /srv/app/app.fcgi
#   docker run --init -p 8080:8080 -v /etc/fcgipm:/etc/fcgipm:ro -v /srv:/srv:ro fcgipm \
#       serve --config /etc/fcgipm/fcgipm.yaml  # listen.http: 0.0.0.0:8080, listen.admin: 127.0.0.1:9180
#
# The default --http is 127.0.0.1:8080, which is not reachable from outside the container:
# pass --http 0.0.0.0:8080 as above. The HEALTHCHECK asks /healthz on 127.0.0.1:9180, so keep
# --admin 127.0.0.1:9180 (listen.admin) in your command. --init puts a reaper at PID 1 for
# grandchildren a worker leaves behind (php-cgi's children, for one); fcgipm reaps its own.

FROM node:20-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential python3 libfcgi-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json .npmrc binding.gyp tsconfig.json tsconfig.build.json LICENSE README.md ./
COPY scripts ./scripts
COPY bin ./bin
COPY src ./src
COPY fixtures ./fixtures
COPY packaging ./packaging
# npm ci builds dist/ and the fixtures ("prepare"); install-package.sh then packs the package
# and installs the tarball as a user would (compiling the addon and the exec helper), into a
# prefix that holds nothing else: test/packaging/npm-pack.test.ts installs and serves with the
# same script.
RUN npm ci && packaging/install-package.sh /opt/fcgipm

FROM node:20-bookworm-slim
# libfcgi: the run-time library of libfcgi apps, the bundled example's too.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libfcgi0ldbl \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production PATH=/opt/fcgipm/bin:$PATH
COPY --from=build /opt/fcgipm /opt/fcgipm
COPY --from=build /src/fixtures/fcgi-apps/build/hello.fcgi /opt/fcgipm/examples/hello.fcgi
# The default IPC dir (mode 0700), owned by the unprivileged user the manager runs as. Run as
# root (--user root) only to start workers as other users; fcgipm then sets the mode itself.
RUN mkdir -p /run/fcgidsock \
    && chown node:node /run/fcgidsock \
    && chmod 0700 /run/fcgidsock
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["node", "-e", "require('http').get('http://127.0.0.1:9180/healthz', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
ENTRYPOINT ["fcgipm"]
CMD ["run", "--http", "0.0.0.0:8080", "--admin", "127.0.0.1:9180", "--", "/opt/fcgipm/examples/hello.fcgi"]
