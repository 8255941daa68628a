# Strata's API and worker image (docker-compose.yml). The embedded default needs no image: `npm start`.
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 git && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
ENV STRATA_HOST=0.0.0.0
CMD ["npx", "tsx", "src/main.ts"]
