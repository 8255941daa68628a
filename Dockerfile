# Strata's API and worker image (docker-compose.yml). The embedded default needs no image: `npm start`.
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip git && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
# Job-type templates render with the pinned Jinja2 (src/jobtypes/jinja2-pin.json) in .tools/.
RUN node scripts/provision.mjs --jinja2
ENV STRATA_HOST=0.0.0.0
# As `npm start` and `npm run worker` run it (test/unit/nodeLaunch.test.ts keeps them equal): a young generation of 4 MB per V8 heap (Node's default of
# 16 MB let a worker's memory grow by 100-190 MB of uncollected garbage during a 1,000-task build) and two
# glibc malloc arenas (one per thread of the Temporal core otherwise); docs/benchmarks.md, section d. Neither
# slowed the benchmark's builds.
ENV NODE_OPTIONS=--max-semi-space-size=4 MALLOC_ARENA_MAX=2
CMD ["npx", "tsx", "src/main.ts"]
