FROM python:3.11-slim
WORKDIR /app
COPY . .
# A regular (non-editable) install: migrations ship inside the package, so `platform-jobs migrate` works.
RUN pip install --no-cache-dir . && rm -rf /app/build
