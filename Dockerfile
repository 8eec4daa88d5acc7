# tripwired's container image: `docker build -t tripwired .` (README.md, "Docker").
#
#   config      /etc/tripwired/tripwired.yaml   (mount your own over it)
#   rule packs  shipped in the package (`builtin:*` in the config); yours in /etc/tripwired/rules.d/
#   state       /var/lib/tripwired              (a volume: alert state survives the container)
#   host        /host/proc, /host/sys, /host    (read-only mounts, with the --path.* flags)
#   port        9842, on all interfaces inside the container

# Build stage: the program and its dependencies in a virtual environment, from a wheel.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent ./agent
RUN python -m venv /opt/tripwired \
    && /opt/tripwired/bin/pip install --no-cache-dir --disable-pip-version-check . \
    && /opt/tripwired/bin/pip uninstall --yes pip setuptools

# Run stage: the same base (the venv links to its interpreter), no compilers, no pip cache.
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 tripwired \
    && useradd --system --uid 10001 --gid tripwired --home-dir /var/lib/tripwired --no-create-home \
       --shell /usr/sbin/nologin tripwired \
    && install -d -o tripwired -g tripwired -m 0750 /var/lib/tripwired
COPY --from=build /opt/tripwired /opt/tripwired
COPY packaging/tripwired.yaml /etc/tripwired/tripwired.yaml
ENV PATH=/opt/tripwired/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/tripwired
VOLUME ["/var/lib/tripwired"]
EXPOSE 9842
# The image has no curl: Python asks /-/healthy (200 while the process serves).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9842/-/healthy', timeout=4).status != 200)"]
ENTRYPOINT ["tripwired"]
CMD ["run", "--config=/etc/tripwired/tripwired.yaml", "--web.listen-address=0.0.0.0:9842"]
