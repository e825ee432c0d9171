# syntax=docker/dockerfile:1
# Node tools: anvil for `gr8d devchain` (pinned in contracts/package.json).
FROM node:20-bookworm-slim AS node-tools
WORKDIR /app/contracts
COPY contracts/package.json contracts/package-lock.json ./
RUN npm ci --no-audit --no-fund

# Build: gr8d and its locked dependencies in a virtual environment, with a compiler at hand.
# The source stays at /app: the indexer reads the contract artifacts from /app/contracts.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml requirements.lock README.md alembic.ini ./
COPY gr8d ./gr8d
COPY db ./db
COPY api ./api
COPY accounts ./accounts
COPY strategies ./strategies
COPY market ./market
COPY indexer ./indexer
COPY settlement ./settlement
COPY simulation ./simulation
COPY migrations ./migrations
COPY contracts/artifacts ./contracts/artifacts
RUN python -m venv /opt/gr8d \
    && /opt/gr8d/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/gr8d/bin/pip install --no-cache-dir --constraint requirements.lock --editable .

# Run: the environment, the source and anvil, as an unprivileged user.
FROM python:3.11-slim AS runtime
ENV PATH=/opt/gr8d/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=8080
RUN useradd --system --uid 10001 --create-home --home-dir /home/gr8d gr8d \
    && mkdir /chain && chown gr8d /chain
COPY --from=build /opt/gr8d /opt/gr8d
COPY --from=build /app /app
COPY --from=node-tools /app/contracts/node_modules/@foundry-rs /app/contracts/node_modules/@foundry-rs
RUN mkdir -p /app/contracts/node_modules/.bin \
    && ln -s ../@foundry-rs/anvil-linux-amd64/bin/anvil /app/contracts/node_modules/.bin/anvil
USER gr8d
WORKDIR /home/gr8d
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('API_PORT', '8080'), timeout=4)" || exit 1
ENTRYPOINT ["gr8d"]
CMD ["run"]
