# dynoguard: the supervisor and the worker in one image, the supervisor as PID 1.
#
#   docker build -t dynoguard .
#   docker run --rm -p 8080:8080 -v dynoguard-data:/data --stop-timeout 30 dynoguard
#
# Two stages: `build` installs the -dev packages (the list lives in scripts/setup.sh only) and
# compiles the two programs; the runtime stage gets the stripped binaries and only the shared
# libraries they link, found with ldd + dpkg -S on the built binaries (so a library added to
# the build is carried over without editing this file). The base images are build arguments:
# CI builds this file on a bookworm root made with mmdebstrap (scripts/ci/image.sh).
#
# Runtime contract: runs as the non-root user `dynoguard` (uid 10001); listens on $PORT
# (default 8080, Heroku and Render set it) on 0.0.0.0; keeps its state in DATA_DIR=/data, a
# volume owned by that user; SIGTERM stops it gracefully (the worker finishes the send in flight
# and backs the session up within WORKER_STOP_TIMEOUT_S=20 s; give `docker stop` more than its
# default 10 s: --stop-timeout 30). Configuration: the environment variables of
# docs/configuration.md.

ARG BUILD_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# The packages first: this layer stays cached while only the sources change.
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh --deps-only && rm -rf /var/lib/apt/lists/*
COPY . .
# The two programs and the session store modules they load (no tests), stripped.
RUN rm -rf build && scripts/setup.sh \
 && mkdir -p /out/all \
 && for f in supervisor worker dynoguard-postgres.so dynoguard-mongodb.so; do \
      strip --strip-unneeded -o "/out/all/$f" "build/$f" || exit 1; \
    done
# Which session store modules the image carries (SESSION_STORAGE_TYPE=postgres, mongodb): the
# PostgreSQL one by default (Heroku Postgres, Render Postgres); `--build-arg
# SESSION_MODULES="postgres mongodb"` adds the MongoDB one, with libmongoc and the ICU data it
# needs (about 40 MB: the image is then ~137 MB instead of ~96 MB). Then the Debian packages that own the shared libraries the chosen files
# need (ldd paths are tried as given and resolved: usrmerge puts some under /lib).
ARG SESSION_MODULES="postgres"
RUN mkdir -p /out/app && cp /out/all/supervisor /out/all/worker /out/app/ \
 && for m in $SESSION_MODULES; do \
      cp "/out/all/dynoguard-$m.so" /out/app/ \
        || { echo "Dockerfile: SESSION_MODULES: no module '$m' (allowed: postgres, mongodb)" >&2; exit 1; }; \
    done \
 && ! ldd /out/app/* | grep 'not found' \
 && ldd /out/app/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u >/tmp/libs \
 && while read -r lib; do \
      dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null \
        || { echo "Dockerfile: no Debian package owns $lib" >&2; exit 1; }; \
    done </tmp/libs >/tmp/owners \
 && cut -d: -f1 /tmp/owners | sort -u >/out/runtime-packages \
 && echo "runtime packages:" $(cat /out/runtime-packages)

FROM ${RUNTIME_IMAGE}
# The libraries the binaries link, the CA certificates for HTTPS (Graph API, JSONBin, webhooks)
# and curl for the HEALTHCHECK (curl itself adds about 0.5 MB: libcurl is needed anyway).
# Like bookworm-slim itself: no documentation, manual pages or translations from these packages.
COPY --from=build /out/runtime-packages /usr/share/dynoguard/runtime-packages
RUN printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
      'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/lintian/*' \
      >/etc/dpkg/dpkg.cfg.d/90-dynoguard-nodoc \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl $(cat /usr/share/dynoguard/runtime-packages) \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin dynoguard \
 && install -d -m 0700 -o dynoguard -g dynoguard /data
# The same layout as a checkout built by scripts/setup.sh (./build/supervisor beside
# ./build/worker and the store modules), so the Procfile's `./build/supervisor start` runs here
# unchanged.
COPY --from=build /out/app/ /app/build/
COPY Procfile LICENSE /app/
WORKDIR /app
ENV PATH=/app/build:$PATH \
    DATA_DIR=/data \
    PORT=8080 \
    HOST=0.0.0.0
VOLUME /data
USER dynoguard
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT:-8080}/health" || exit 1
CMD ["supervisor", "start"]
