# syntax=docker/dockerfile:1
# ProxySidecar container image.
#   docker build -t proxysidecar:0.1.0 .                  (the default: Native AOT, one native executable on
#                                                           runtime-deps, no .NET runtime; bench/README.md)
#   docker build --target jit -t proxysidecar:0.1.0-jit .  (the framework-dependent build on the ASP.NET runtime)
# Runs as a non-root user with a read-only root filesystem (only /tmp is written: mount an emptyDir).
# No certificate or key is in the image: mount the kubernetes.io/tls secret at /etc/proxysidecar/tls.

# The framework-dependent build (--target jit).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore in its own layer: it is rebuilt only when the package graph changes.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ProxySidecar/ProxySidecar.csproj src/ProxySidecar/
RUN dotnet restore src/ProxySidecar/ProxySidecar.csproj

COPY src/ src/
RUN dotnet publish src/ProxySidecar/ProxySidecar.csproj -c Release --no-restore -p:UseAppHost=false -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS jit
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
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build-aot
RUN apt-get update && apt-get install -y --no-install-recommends clang zlib1g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ProxySidecar/ProxySidecar.csproj src/ProxySidecar/
RUN dotnet restore src/ProxySidecar/ProxySidecar.csproj -r linux-x64 -p:PublishAot=true
COPY src/ src/
RUN dotnet publish src/ProxySidecar/ProxySidecar.csproj -c Release -r linux-x64 -p:PublishAot=true --no-restore -o /app \
    && rm -f /app/*.dbg

# The default image (the last stage).
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0 AS aot
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
