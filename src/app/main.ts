import './facesense-app';
