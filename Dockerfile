# syntax=docker/dockerfile:1
# Build: wheels for gr8d and its locked dependencies, in a throw-away stage with a compiler.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml requirements.lock README.md alembic.ini ./
COPY gr8d ./gr8d
COPY db ./db
COPY api ./api
COPY indexer ./indexer
COPY settlement ./settlement
COPY migrations ./migrations
RUN python -m venv /opt/gr8d \
    && /opt/gr8d/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/gr8d/bin/pip install --no-cache-dir --constraint requirements.lock .

# Run: the virtual environment only, as an unprivileged user.
FROM python:3.11-slim AS runtime
ENV PATH=/opt/gr8d/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production
RUN useradd --system --uid 10001 --create-home --home-dir /home/gr8d gr8d
COPY --from=build /opt/gr8d /opt/gr8d
USER gr8d
WORKDIR /home/gr8d
ENTRYPOINT ["gr8d"]
CMD ["--help"]
