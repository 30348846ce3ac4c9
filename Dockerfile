# syntax=docker/dockerfile:1
# ProxySidecar container image, for linux/amd64 and linux/arm64.
#   docker build -t proxysidecar:0.1.0 .                  (the default: Native AOT, one native executable on
#                                                           runtime-deps, no .NET runtime; bench/README.md)
#   docker buildx build --platform linux/amd64,linux/arm64 -t registry.example.com/proxysidecar:0.1.0 \
#     --build-arg SOURCE_URL=https://... --push .         (both architectures, one multi-arch image)
#   docker build --target jit -t proxysidecar:0.1.0-jit .  (the framework-dependent build on the ASP.NET runtime)
# Both build stages run on the build machine's own architecture ($BUILDPLATFORM) and compile for the image's
# ($TARGETARCH, set by BuildKit): no emulation, which .NET does not support. The runtime stages are the target's.
# Runs as a non-root user with a read-only root filesystem (only /tmp is written: mount an emptyDir).
# No certificate or key is in the image: mount the kubernetes.io/tls secret at /etc/proxysidecar/tls.

# OCI labels (org.opencontainers.image.*). VERSION is the project's <Version>; the image tag should match it.
ARG VERSION=0.1.0
ARG SOURCE_URL=
ARG LICENSES=MIT

# The framework-dependent build (--target jit): IL for any architecture, with the target's runtime assets.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
ARG VERSION
WORKDIR /src

# The .NET name of the target architecture (BuildKit says amd64/arm64, .NET says x64/arm64), for -r linux-$arch.
RUN case "$TARGETARCH" in \
      amd64) echo x64 > /arch ;; \
      arm64) echo arm64 > /arch ;; \
      *) echo "TARGETARCH is \"$TARGETARCH\": build with BuildKit for linux/amd64 or linux/arm64" >&2; exit 1 ;; \
    esac

# Restore in its own layer: it is rebuilt only when the package graph changes.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ProxySidecar/ProxySidecar.csproj src/ProxySidecar/
RUN arch=$(cat /arch) && dotnet restore src/ProxySidecar/ProxySidecar.csproj -r linux-$arch

COPY src/ src/
RUN arch=$(cat /arch) && dotnet publish src/ProxySidecar/ProxySidecar.csproj -c Release -r linux-$arch --self-contained false -p:UseAppHost=false -p:Version=$VERSION --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS jit
ARG VERSION
ARG SOURCE_URL
ARG LICENSES
LABEL org.opencontainers.image.title="ProxySidecar" \
      org.opencontainers.image.description="HTTPS, an RFC 9111 shared cache and OpenTelemetry in front of an unmodified app, as a Kubernetes sidecar (framework-dependent build)" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.source="$SOURCE_URL" \
      org.opencontainers.image.licenses="$LICENSES"
WORKDIR /app
COPY --from=build /app ./

# Nothing is written outside /tmp: no diagnostics files or dumps elsewhere, no first-run state,
# and Kestrel's endpoints come from the Sidecar settings, not the image's default http://+:8080.
ENV ASPNETCORE_ENVIRONMENT=Production \
    ASPNETCORE_HTTP_PORTS= \
    ASPNETCORE_URLS= \
    DOTNET_NOLOGO=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    TMPDIR=/tmp \
    HOME=/tmp

# The non-root user the .NET images define (uid 1654).
USER $APP_UID

# HTTPS (public) and the admin listener (probes, /status, /metrics; pod-internal).
EXPOSE 8443 9901

ENTRYPOINT ["dotnet", "/app/ProxySidecar.dll"]

# Native AOT: the same sources compiled ahead of time into one executable (CI tests this build's binary).
# clang links it. For a target other than the build machine's architecture, that architecture's C runtime,
# binutils and zlib come from Ubuntu's archive (the SDK image is Ubuntu 24.04) and clang cross-links.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build-aot
ARG TARGETARCH
ARG BUILDARCH
ARG VERSION
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) echo x64 > /arch; triple=x86-64-linux-gnu; mirror=http://archive.ubuntu.com/ubuntu/ ;; \
      arm64) echo arm64 > /arch; triple=aarch64-linux-gnu; mirror=http://ports.ubuntu.com/ubuntu-ports/ ;; \
      *) echo "TARGETARCH is \"$TARGETARCH\": build with BuildKit for linux/amd64 or linux/arm64" >&2; exit 1 ;; \
    esac; \
    packages="clang llvm zlib1g-dev"; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      sed -i "/^Signed-By:/a Architectures: $BUILDARCH" /etc/apt/sources.list.d/ubuntu.sources; \
      printf 'Types: deb\nURIs: %s\nSuites: noble noble-updates noble-security\nComponents: main\nSigned-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg\nArchitectures: %s\n' \
        "$mirror" "$TARGETARCH" > "/etc/apt/sources.list.d/$TARGETARCH.sources"; \
      dpkg --add-architecture "$TARGETARCH"; \
      packages="$packages binutils-$triple gcc-$triple zlib1g-dev:$TARGETARCH"; \
    fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends $packages; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ProxySidecar/ProxySidecar.csproj src/ProxySidecar/
RUN arch=$(cat /arch) && dotnet restore src/ProxySidecar/ProxySidecar.csproj -r linux-$arch -p:PublishAot=true
COPY src/ src/
RUN arch=$(cat /arch) && dotnet publish src/ProxySidecar/ProxySidecar.csproj -c Release -r linux-$arch -p:PublishAot=true -p:Version=$VERSION --no-restore -o /app \
    && rm -f /app/*.dbg

# The default image (the last stage).
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0 AS aot
ARG VERSION
ARG SOURCE_URL
ARG LICENSES
LABEL org.opencontainers.image.title="ProxySidecar" \
      org.opencontainers.image.description="HTTPS, an RFC 9111 shared cache and OpenTelemetry in front of an unmodified app, as a Kubernetes sidecar (Native AOT)" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.source="$SOURCE_URL" \
      org.opencontainers.image.licenses="$LICENSES"
WORKDIR /app
COPY --from=build-aot /app ./
ENV ASPNETCORE_ENVIRONMENT=Production \
    ASPNETCORE_HTTP_PORTS= \
    ASPNETCORE_URLS= \
    TMPDIR=/tmp \
    HOME=/tmp
USER $APP_UID
EXPOSE 8443 9901
ENTRYPOINT ["/app/ProxySidecar"]
