# A P2PDB node in a container:
#   docker build -t p2pdb .
#   docker run -d --name register1 -v register1:/data -p 7070:7070 -p 7071:7071 p2pdb
#   docker exec register1 p2pdb token --data /data
# Extra arguments go to `p2pdb serve` (e.g. --join 192.168.1.20:7071).
# See docs/OPERATIONS.md, "Containers".

FROM swift:6.1-bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsqlite3-dev libcurl4-openssl-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product p2pdb --static-swift-stdlib \
    && install -D -m 0755 .build/release/p2pdb /out/p2pdb

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsqlite3-0 libcurl4 && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /data --shell /usr/sbin/nologin p2pdb \
    && mkdir -p /data && chown p2pdb:p2pdb /data && chmod 0700 /data
COPY --from=build /out/p2pdb /usr/local/bin/p2pdb
COPY packaging/docker-entrypoint /usr/local/bin/docker-entrypoint
USER p2pdb
VOLUME /data
EXPOSE 7070 7071
ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]
